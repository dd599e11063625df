import json
LL = dict(num_envs=32, num_steps=256, num_minibatches=16, update_epochs=6, lr=7e-4, gamma=0.999, gae_lambda=0.98, ent_coef=0.01)
CP = dict(num_envs=8, num_steps=32, num_minibatches=1, update_epochs=20, lr=1e-3, gamma=0.98, gae_lambda=0.8, ent_coef=0.0)
cfgs = []
def add(name, env, base, seeds, steps, ev, est, prio, **kw):
    cfgs.append(dict(name=name, env=env, seeds=seeds, steps=steps, eval_every=ev, est=est, prio=prio, set={**base, **kw}))
# LunarLanderContinuous, 2 seeds
LC = {**LL, "ent_coef": 0.0, "norm_obs": True, "norm_reward": True}
for name, kw in [("lc_a", {}), ("lc_ent", dict(ent_coef=0.01)), ("lc_ls-.5", dict(init_log_std=-0.5)),
                 ("lc_lr3e-4ep10", dict(lr=3e-4, update_epochs=10)), ("lc_nr_only", dict(norm_obs=False))]:
    add(name, "LunarLanderContinuous-v3", LC, [1, 2], 1500000, 32768, 250, 3, **kw)
for name, kw in [("ll_lead", {}), ("ll_nr", dict(norm_reward=True)), ("ll_ep10lr1e-3", dict(update_epochs=10, lr=1e-3)),
                 ("ll_32x128", dict(num_steps=128, num_minibatches=8)), ("ll_16x256ep8lr1e-3", dict(num_envs=16, num_minibatches=8, update_epochs=8, lr=1e-3)),
                 ("ll_no_nr", dict(norm_obs=True, norm_reward=True)), ("ll_lr1e-3", dict(lr=1e-3)),
                 ("ll_mb1024ep10lr1e-3", dict(num_minibatches=8, update_epochs=10, lr=1e-3)), ("ll_g.99l.95", dict(gamma=0.99, gae_lambda=0.95))]:
    add(name, "LunarLander-v3", LL, [1, 2, 3], 1000000, 16384, 140, 2, **kw)
def cp(e, t, m, ep, lr, **kw):
    return dict(num_envs=e, num_steps=t, num_minibatches=m, update_epochs=ep, lr=lr, **kw)
for name, kw in [("cp_preset", {}), ("cp_16x32ep10lr2e-3", cp(16, 32, 1, 10, 2e-3)), ("cp_32x32ep10lr2e-3", cp(32, 32, 1, 10, 2e-3)),
                 ("cp_32x32ep5lr3e-3", cp(32, 32, 1, 5, 3e-3)), ("cp_16x32mb2ep5lr2e-3", cp(16, 32, 2, 5, 2e-3)),
                 ("cp_32x16ep8lr3e-3", cp(32, 16, 1, 8, 3e-3)), ("cp_8x32ep10lr2e-3", cp(8, 32, 1, 10, 2e-3)),
                 ("cp_16x32ep10lr3e-3g.99l.9", cp(16, 32, 1, 10, 3e-3, gamma=0.99, gae_lambda=0.9)),
                 ("cp_32x32mb2ep4lr3e-3", cp(32, 32, 2, 4, 3e-3)), ("cp_16x64mb4ep4lr2.5e-3", cp(16, 64, 4, 4, 2.5e-3)),
                 ("cp_32x32ep10lr3e-3noanneal", cp(32, 32, 1, 10, 3e-3, anneal_lr=False)), ("cp_16x16ep10lr3e-3", cp(16, 16, 1, 10, 3e-3)),
                 ("cp_64x16ep8lr3e-3", cp(64, 16, 1, 8, 3e-3)), ("cp_16x32ep10lr2e-3g.99l.95", cp(16, 32, 1, 10, 2e-3, gamma=0.99, gae_lambda=0.95)),
                 ("cp_8x32ep20lr2e-3", cp(8, 32, 1, 20, 2e-3)), ("cp_16x32ep10lr2e-3clip.3", cp(16, 32, 1, 10, 2e-3, clip_coef=0.3))]:
    add(name, "CartPole-v1", CP, [1, 2, 3], 50000, 2048, 40, 1, **kw)
json.dump(cfgs, open("batch1.json", "w"), indent=1)
print(len(cfgs), sum(len(c["seeds"]) for c in cfgs))
