import json
b1 = json.load(open("batch1.json"))
cfgs = [c for c in b1 if c["env"] != "CartPole-v1"]
CP = dict(num_envs=8, num_steps=32, num_minibatches=1, update_epochs=20, lr=1e-3, gamma=0.98, gae_lambda=0.8, ent_coef=0.0)
def cp(e, t, m, ep, lr, **kw):
    return dict(num_envs=e, num_steps=t, num_minibatches=m, update_epochs=ep, lr=lr, **kw)
for name, kw, seeds in [
    ("cp_16x32mb2ep5lr2e-3", cp(16, 32, 2, 5, 2e-3), [4, 5]), ("cp_16x32ep10lr2e-3clip.3", cp(16, 32, 1, 10, 2e-3, clip_coef=0.3), [4, 5]),
    ("cp_8x32ep20lr2e-3", cp(8, 32, 1, 20, 2e-3), [4, 5]), ("cp_preset", {}, [4, 5]),
    ("cp_16x32mb2ep5lr2e-3clip.3", cp(16, 32, 2, 5, 2e-3, clip_coef=0.3), [1, 2, 3, 4, 5]),
    ("cp_16x32mb2ep5lr3e-3", cp(16, 32, 2, 5, 3e-3), [1, 2, 3, 4, 5]),
    ("cp_16x32mb2ep8lr2e-3clip.3", cp(16, 32, 2, 8, 2e-3, clip_coef=0.3), [1, 2, 3, 4, 5]),
    ("cp_16x32ep10lr2e-3clip.3g.99l.95", cp(16, 32, 1, 10, 2e-3, clip_coef=0.3, gamma=0.99, gae_lambda=0.95), [1, 2, 3, 4, 5]),
    ("cp_8x32ep10lr3e-3clip.3", cp(8, 32, 1, 10, 3e-3, clip_coef=0.3), [1, 2, 3, 4, 5]),
    ("cp_16x32mb4ep4lr2e-3", cp(16, 32, 4, 4, 2e-3), [1, 2, 3, 4, 5]),
    ("cp_16x32mb2ep5lr2e-3g.99l.95", cp(16, 32, 2, 5, 2e-3, gamma=0.99, gae_lambda=0.95), [1, 2, 3, 4, 5]),
    ("cp_16x32ep10lr2e-3clip.3noanneal", cp(16, 32, 1, 10, 2e-3, clip_coef=0.3, anneal_lr=False), [1, 2, 3, 4, 5]),
    ("cp_8x64mb2ep8lr2e-3clip.3", cp(8, 64, 2, 8, 2e-3, clip_coef=0.3), [1, 2, 3, 4, 5])]:
    cfgs.append(dict(name=name, env="CartPole-v1", seeds=seeds, steps=50000, eval_every=2048, est=40, prio=1, set={**CP, **kw}))
json.dump(cfgs, open("batch2.json", "w"), indent=1)
print(len(cfgs), sum(len(c["seeds"]) for c in cfgs))
