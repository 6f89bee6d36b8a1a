# ruff: noqa
"""The throwaway EightBit recipe trainer behind docs/machines.md ("How it was found"): kept as
the record of those runs, not part of the library. Run from the repository root, e.g.

    python docs/experiments/eightbit.py adv3 mix=range ks=2,4,8 fresh=1 ep=600 sched=cos \\
        "ksched=201:4,8/401:8" check=200,300,400,500,600

Options are key=value (see the argument parsing below); 16 networks, validation on 128 fair
sequences of 16 steps per network. Writes the final parameters to /tmp/eb/."""
import sys, time, json
import numpy as np
import jax, jax.numpy as jnp, optax
from mlds_jax.models import apply_gru_batch, init_gru
from mlds_jax.spec import GRUSpec
from mlds_jax.tasks import get_machine, simulate

args = dict(a.split("=") for a in sys.argv[2:])
NAME = sys.argv[1]
CLS = args.get("cls", "EightBitMachine")
N = int(args.get("n", 16)); T = int(args.get("T", 16)); NTR = int(args.get("ntr", 1024))
BS = int(args.get("bs", 32)); LR = float(args.get("lr", 0.01)); EP = int(args.get("ep", 200))
MIX = args.get("mix", "none")  # none | range | subset
KS = [int(k) for k in args.get("ks", "1,2,4,8").split(",")]
# advancing curriculum: "E1:ks1/E2:ks2" -> from epoch E on, draw with that ks list
KSCHED = [(int(p.split(":")[0]), [int(k) for k in p.split(":")[1].split(",")])
          for p in args.get("ksched", "").split("/") if p]
PW = float(args.get("pw", 0.5))  # P(write)
SEED = int(args.get("seed", 0))
TMIX = [int(t) for t in args.get("tmix", str(T)).split(",")]
CHECK = [int(c) for c in args.get("check", "10,25,50,100,150,200,300,400").split(",")]
m = GRUSpec()
mach = get_machine(CLS)
ns, out = jnp.asarray(mach.next_state), jnp.asarray(mach.output)
sim = jax.jit(jax.vmap(simulate, in_axes=(None, None, 0)))

def draw(rng, n, T):
    bits = np.zeros((n, T, 5), np.int32)
    bits[..., 0] = rng.random((n, T)) < PW
    bits[..., 1] = rng.random((n, T)) < 0.5
    if MIX == "none":
        a = rng.integers(0, 8, (n, T))
    else:
        k = np.asarray(KS)[np.arange(n) % len(KS)]
        a = np.zeros((n, T), np.int64)
        for i in range(n):
            if MIX == "range":
                pool = np.arange(k[i])
            elif MIX == "cube":  # random sub-cube: log2(k) random address bits vary
                free = rng.permutation(3)[:int(np.log2(k[i]))]
                base = rng.integers(0, 8)
                pool = np.array(sorted({base ^ sum(((v >> q) & 1) << int(b) for q, b in enumerate(free)) for v in range(k[i])}))
            elif MIX == "block":
                pool = rng.integers(0, 8 // k[i]) * k[i] + np.arange(k[i])
            else:
                pool = rng.permutation(8)[:k[i]]
            a[i] = pool[rng.integers(0, k[i], T)]
    PL, PF = int(args.get("prefix", 0)), float(args.get("pfrac", 0.5))
    if PL:
        sel = rng.random(n) < PF
        for i in np.nonzero(sel)[0]:
            bits[i, :PL, 0] = 1
            a[i, :PL] = rng.permutation(8)[:PL]
    for j in range(3):
        bits[..., 2 + j] = (a >> j) & 1
    y = np.asarray(sim(ns, out, jnp.asarray(bits)))[..., None].astype(np.float32)
    return bits.astype(np.float32), y

rng = np.random.default_rng(SEED)
# Train sets: one T per network set (pad not needed: a single T per run unless tmix)
Ttr = T
xtr, ytr = zip(*[draw(rng, NTR, Ttr) for _ in range(N)])
xtr, ytr = jnp.asarray(np.stack(xtr)), jnp.asarray(np.stack(ytr))
vr = np.random.default_rng(10_000 + SEED)
bits = (vr.random((N, 128, 16, 5)) < 0.5).astype(np.int32)
yva = np.asarray(jax.vmap(lambda b: sim(ns, out, b))(jnp.asarray(bits)))[..., None].astype(np.float32)
xva, yva = jnp.asarray(bits, jnp.float32), jnp.asarray(yva)

keys = jax.random.split(jax.random.PRNGKey(SEED), N)
params = jax.vmap(lambda k: init_gru(k, m))(keys)
SCHED = args.get("sched", "const")
TOT = EP * (NTR // BS)
if SCHED == "cos":
    opt = optax.adam(optax.cosine_decay_schedule(LR, TOT, alpha=float(args.get("alpha", 0.05))))
elif SCHED == "wcos":
    opt = optax.adam(optax.warmup_cosine_decay_schedule(0.0, LR, TOT // 20, TOT, LR * 0.05))
else:
    opt = optax.adam(LR)
ost = jax.vmap(opt.init)(params)

def loss_fn(p, x, y):
    return optax.sigmoid_binary_cross_entropy(apply_gru_batch(p, x, m), y).mean()

def net_epoch(p, s, x, y, key):
    perm = jax.random.permutation(key, NTR).reshape(NTR // BS, BS)
    def step(c, idx):
        p, s = c
        l, g = jax.value_and_grad(loss_fn)(p, x[idx], y[idx])
        u, s = opt.update(g, s, p)
        return (optax.apply_updates(p, u), s), l
    (p, s), ls = jax.lax.scan(step, (p, s), perm)
    return p, s, ls.mean()

epoch = jax.jit(jax.vmap(net_epoch))
def evaluate(p, x, y):
    lg = apply_gru_batch(p, x, m)
    return optax.sigmoid_binary_cross_entropy(lg, y).mean(), jnp.mean((lg > 0) == (y > 0.5))
ev = jax.jit(jax.vmap(evaluate))
# diagnostic validation per address-subset size k (fresh sequences, T=16)
FRESH = int(args.get("fresh", 0))
diag = {}
for kk in (1, 2, 4):
    global_mix = MIX
    MIX_SAVE, KS_SAVE, PW_SAVE = MIX, KS, PW
    MIX, KS, PW = "subset", [kk], 0.5
    PSAVE = args.pop("prefix", None)
    dx, dy = zip(*[draw(vr, 128, 16) for _ in range(N)])
    diag[kk] = (jnp.asarray(np.stack(dx)), jnp.asarray(np.stack(dy)))
    MIX, KS, PW = MIX_SAVE, KS_SAVE, PW_SAVE
    if PSAVE is not None: args["prefix"] = PSAVE
t0 = time.time(); res = {}
for e in range(1, EP + 1):
    for start, ks in KSCHED:
        if e == start:
            KS = ks
    if FRESH and e > 1:
        xtr, ytr = zip(*[draw(rng, NTR, Ttr) for _ in range(N)])
        xtr, ytr = jnp.asarray(np.stack(xtr)), jnp.asarray(np.stack(ytr))
    ek = jax.vmap(lambda k: jax.random.fold_in(k, e))(keys)
    params, ost, tl = epoch(params, ost, xtr, ytr, ek)
    if e in CHECK or e == EP:
        vl, va = (np.asarray(a) for a in ev(params, xva, yva))
        share = float(np.mean(va >= 0.99)); med = float(np.median(va))
        res[e] = (share, med, float(np.median(vl)), float(np.median(np.asarray(tl))))
        dk = " ".join(f"k{kk}={np.median(np.asarray(ev(params, *diag[kk])[1])):.3f}" for kk in diag)
        print(f"{NAME} ep{e:4d} {dk} share={share:.2f} med_acc={med:.3f} max={va.max():.3f} "
              f"med_vl={np.median(vl):.3f} med_tl={np.median(np.asarray(tl)):.3f} t={time.time()-t0:.0f}s",
              flush=True)
import os; os.makedirs("/tmp/eb", exist_ok=True); np.save(f"/tmp/eb/params_{NAME}.npy", np.asarray(params))
print("RESULT", NAME, json.dumps(args), json.dumps(res), flush=True)
