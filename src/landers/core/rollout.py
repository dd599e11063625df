"""Collecting experience: the vector env stepped by the current policy into a `(T, N)` buffer.

Shared by every on-policy algorithm. Per env step the Python work is constant in the number of
envs: one batched forward pass, one env call, a few whole-array numpy operations.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from landers.core.buffer import Rollout
from landers.envs import SplitVecEnv, StepResult, VecEnv
from landers.envs.source import EnvSource
from landers.errors import Diverged, LandersError
from landers.policy.networks import ActorCritic, RecurrentActorCritic
from landers.policy.normalize import ObsNormalizer, RewardScaler
from landers.policy.sde import ExplorationNoise
from landers.policy.spaces import ObsLayout, env_actions


@dataclass
class Episode:
    step: int      # global step at which it ended
    ret: float     # real (unscaled) return
    length: int


def _check_env_output(source: EnvSource, obs: np.ndarray, reward: np.ndarray, step: int) -> None:
    """NaN or inf from the env would flow into the normalizer statistics and the loss; stop
    before either learns from it. Integer observations (pixels) cannot be non-finite."""
    for name, values in (("an observation", obs), ("a reward", reward)):
        floating = isinstance(values, np.ndarray) and np.issubdtype(values.dtype, np.floating)
        if floating and not np.isfinite(values).all():
            bad = "nan" if np.isnan(values).any() else "inf"
            env_id = source.describe()  # only now: building it every step is wasted work
            raise Diverged(f"{env_id} returned {name} holding {bad} after step {step:,}", env=env_id)


def check_mask(mask: np.ndarray, sizes: list[int], source: EnvSource, step: int, first_env: int = 0) -> None:
    """One sentence, naming the env and the step, where a mask allows no action (in a dimension)."""
    offsets = np.cumsum([0] + sizes[:-1])
    empty = ~np.logical_or.reduceat(mask, offsets, axis=1).all(1)
    if empty.any():
        i = int(np.flatnonzero(empty)[0])
        raise LandersError(f"{source.describe()} (env {first_env + i}) allowed no action at step {step:,}: its action "
                           "mask is all false, so no action can be taken.")


def mask_sizes(space) -> list[int]:
    """The widths of a Discrete or MultiDiscrete action space's masks, one per dimension."""
    return [int(n) for n in np.asarray(getattr(space, "nvec", getattr(space, "n", 0))).reshape(-1)]


@dataclass
class Collector:
    """Keeps the envs' current observations, masks, a recurrent policy's state and per-env
    episode accumulators between rollouts."""

    envs: VecEnv | SplitVecEnv
    num_steps: int
    device: torch.device
    obs_norm: ObsNormalizer | None = None
    reward_scaler: RewardScaler | None = None
    global_step: int = 0
    episodes: list[Episode] = field(default_factory=list)
    use_masks: bool = True  # False ignores the envs' action masks (`--set mask=false`)
    noise: ExplorationNoise | None = None  # gSDE's exploration matrices (`sde`), drawn on their schedule

    def __post_init__(self):
        n = self.envs.num_envs
        self._groups = self.envs.groups if isinstance(self.envs, SplitVecEnv) else None
        self.prev_done = np.zeros(n, bool)
        self.ep_return = np.zeros(n, np.float64)
        self.ep_length = np.zeros(n, np.int64)
        # Policies index categories from 0 and give Box actions flat; the env has its own format.
        self._to_env = env_actions(self.envs.single_action_space)
        layout = ObsLayout(self.envs.single_observation_space)
        # Flat vectors and images are stored as the env returns them (no work per step);
        # anything else is flattened into rows once, here, as it arrives.
        self._flatten = None if layout.identity or layout.image else layout.flatten
        if self._groups is None:
            self.obs = self._flat(self.envs.reset())
        else:  # one writable array for both halves: each half's results are copied into its rows
            self.obs = np.concatenate([self._flat(group.reset()) for group in self._groups])
        # Pixels stay uint8 on the device (the network scales them); everything else is float32.
        self._obs_dtype = torch.uint8 if layout.image else torch.float32
        T = self.num_steps
        self._obs = torch.zeros((T, n, *layout.shape), dtype=self._obs_dtype, device=self.device)
        self._rewards = np.zeros((T, n), np.float32)
        self._terminated = np.zeros((T, n), bool)
        self._truncated = np.zeros((T, n), bool)
        self._valid = np.zeros((T, n), bool)
        # The current observations' action masks; for an autoreset step (whose action the env
        # ignores) all true, so that a final state without legal moves is no error.
        vecs = self._groups or [self.envs]
        masks = [vec.reset_mask for vec in vecs]
        self.mask = np.concatenate(masks) if self.use_masks and masks[0] is not None else None
        if self.mask is not None:
            self._mask_sizes = mask_sizes(self.envs.single_action_space)
            check_mask(self.mask, self._mask_sizes, self.envs.source, self.global_step)
            self._masks = np.zeros((T, *self.mask.shape), bool)
        # A recurrent policy's state (made at its first step) and which observations begin an
        # episode, where that state is zeroed: the first ones, and those after an autoreset step.
        self.state: torch.Tensor | None = None
        self.starts = np.ones(n, bool)
        self._starts = np.zeros((T, n), bool)

    @property
    def mask_source(self) -> str | None:
        """Where the action masks this collector obeys come from ("obs", "info", "method"), or None."""
        return None if self.mask is None else (self._groups or [self.envs])[0].mask_source

    def _record(self, t: int, envs: slice) -> None:
        """Keep what step t of `envs` acts with: its starts and masks."""
        self._starts[t, envs] = self.starts[envs]
        if self.mask is not None:
            self._masks[t, envs] = self.mask[envs]

    def _explore(self, model, t: int, envs: slice) -> None:
        """gSDE: new exploration matrices for `envs` where step `t` of the rollout is due them."""
        if self.noise is not None and self.noise.due(t):
            self.noise.resample(model, envs)

    def _begin(self, model) -> torch.Tensor | None:
        """A copy of the recurrent state the rollout begins with (None for a feed-forward policy)."""
        if not isinstance(model, RecurrentActorCritic):
            return None
        if self.state is None:
            self.state = model.initial_state(self.envs.num_envs)
        return self.state.clone()

    def _policy_input(self, obs: np.ndarray) -> torch.Tensor:
        if self.obs_norm is not None:
            obs = self.obs_norm(obs)
        return torch.as_tensor(obs, dtype=self._obs_dtype).to(self.device)

    def _flat(self, obs):
        return obs if self._flatten is None else self._flatten(obs)

    def _act(self, model: ActorCritic, envs: slice):
        """The policy acts on the current observations of `envs`: (obs, actions, logp, values)."""
        if self.obs_norm is not None:
            self.obs_norm.update(self.obs[envs])
        obs = self._policy_input(self.obs[envs])
        mask = None if self.mask is None else torch.as_tensor(self.mask[envs], device=self.device)
        if self.state is not None:
            starts = torch.as_tensor(self.starts[envs], device=self.device)
            action, logp, value, self.state[envs] = model.act(obs, self.state[envs], starts, mask=mask)
        elif mask is not None:
            action, logp, value = model.act(obs, mask=mask)
        elif self.noise is not None:
            action, logp, value = model.act(obs, noise=self.noise.matrices[envs])
        else:
            action, logp, value = model.act(obs)
        return obs, action, logp, value

    def _stepped(self, vec: VecEnv, envs: slice, result: StepResult):
        """Book-keeping after `vec`, the envs `envs` of all, returned a step: returns (rewards,
        terminated, truncated, valid) as numpy arrays; finished episodes go to `self.episodes`."""
        obs, reward, terminated, truncated = self._flat(result.obs), result.rewards, result.terminated, result.truncated
        _check_env_output(vec.source, obs, reward, self.global_step)
        if self._groups is None:
            self.obs = obs
        else:
            self.obs[envs] = obs
        self.global_step += vec.num_envs
        valid = ~self.prev_done[envs]
        done = terminated | truncated
        # Logged episodes are real ones (a whole Atari game, in real points).
        game_over = result.game_over
        self.ep_return[envs] += result.raw_rewards
        self.ep_length[envs] += valid
        if game_over.any():
            for i in np.flatnonzero(game_over) + (envs.start or 0):
                self.episodes.append(Episode(self.global_step, float(self.ep_return[i]), int(self.ep_length[i])))
            self.ep_return[envs][game_over] = 0.0
            self.ep_length[envs][game_over] = 0
        if self.reward_scaler is not None:
            reward = self.reward_scaler(reward, done, envs)
        self.prev_done[envs] = done
        self.starts[envs] = ~valid  # after an autoreset step comes an episode's first observation
        if self.mask is not None:
            mask = result.action_mask.copy()
            mask[done] = True  # the next step is an autoreset step: its action is ignored
            check_mask(mask, self._mask_sizes, vec.source, self.global_step, envs.start or 0)
            self.mask[envs] = mask
        return reward, terminated, truncated, valid

    def _step(self, model: ActorCritic):
        """One step of all envs: the policy acts on the current observations.
        Returns (obs, actions, logp, values) as policy tensors and (rewards, terminated,
        truncated, valid) as numpy arrays; finished episodes go to `self.episodes`."""
        obs, action, logp, value = self._act(model, slice(None))
        result = self.envs.step(self._to_env(action.cpu().numpy()))
        return (obs, action, logp, value, *self._stepped(self.envs, slice(None), result))

    @torch.no_grad()
    def collect(self, model: ActorCritic) -> Rollout:
        """Step all envs `num_steps` times into a `(T, N)` rollout."""
        state = self._begin(model)
        if self._groups is not None:
            return self._collect_split(model, state)
        actions, logps, values = [], [], []
        for t in range(self.num_steps):
            self._record(t, slice(None))
            self._explore(model, t, slice(None))
            obs, action, logp, value, *flags = self._step(model)
            self._obs[t] = obs
            actions.append(action)
            logps.append(logp)
            values.append(value)
            self._rewards[t], self._terminated[t], self._truncated[t], self._valid[t] = flags
        return self._rollout(model, torch.stack(actions), torch.stack(logps), torch.stack(values), state)

    def _collect_split(self, model: ActorCritic, state: torch.Tensor | None) -> Rollout:
        """`collect` over the two halves of a `SplitVecEnv`, stepped alternately: each half's
        step runs on EnvPool's threads while the policy acts on the other half. Every env still
        sees actions of the current policy, in order; both halves are received before the
        rollout ends, so no step of the next rollout is taken by this policy."""
        parts = [([], [], []) for _ in self._groups]
        for t in range(self.num_steps + 1):
            for vec, envs, (actions, logps, values) in zip(self._groups, self.envs.slices, parts, strict=False):
                if t > 0:  # the step this half took at t - 1
                    flags = self._stepped(vec, envs, vec.recv())
                    self._rewards[t - 1, envs], self._terminated[t - 1, envs] = flags[0], flags[1]
                    self._truncated[t - 1, envs], self._valid[t - 1, envs] = flags[2], flags[3]
                if t == self.num_steps:
                    continue
                self._record(t, envs)
                self._explore(model, t, envs)
                obs, action, logp, value = self._act(model, envs)
                vec.send(self._to_env(action.cpu().numpy()))
                self._obs[t, envs] = obs
                actions.append(action)
                logps.append(logp)
                values.append(value)
        joined = [torch.cat([torch.stack(part[k]) for part in parts], dim=1) for k in range(3)]
        return self._rollout(model, *joined, state)

    def _rollout(self, model: ActorCritic, actions, logp, values, state: torch.Tensor | None) -> Rollout:
        to = lambda a: torch.from_numpy(a.copy()).to(self.device)  # noqa: E731 - copy: buffers are reused
        if state is None:
            next_values = model.value(self._policy_input(self.obs))
        else:
            next_values = model.value(self._policy_input(self.obs), self.state, to(self.starts))
        return Rollout(
            obs=self._obs.clone(), actions=actions, logp=logp,
            values=values, rewards=to(self._rewards), terminated=to(self._terminated),
            truncated=to(self._truncated), valid=to(self._valid), next_values=next_values,
            masks=None if self.mask is None else to(self._masks),
            state=state, starts=None if state is None else to(self._starts),
        )

    @torch.no_grad()
    def collect_episodes(self, model: ActorCritic, min_steps: int) -> Rollout:
        """Step until the complete episodes gathered hold at least `min_steps` steps; return
        them end to end as a `(B, 1)` rollout (for Monte-Carlo methods).

        Each episode is followed by an invalid row holding its final observation and that
        observation's value, the layout `gae` reads a truncated episode's bootstrap from.
        Every episode returned was played from start to end by `model`: an episode still
        running when the previous call returned began under an older policy, so it is played
        out and dropped (`stale_steps` counts those steps) rather than trained on.
        """
        n = self.envs.num_envs
        if not hasattr(self, "_open"):
            self._open: list[list[tuple]] = [[] for _ in range(n)]
            self._stale = np.zeros(n, bool)
            self.stale_steps = 0
        for i in range(n):
            if self._open[i]:
                self._stale[i], self._open[i] = True, []
        rows: list[tuple] = []
        t = 0
        while len(rows) < min_steps:
            self._explore(model, t, slice(None))
            t += 1
            obs, action, logp, value, reward, terminated, truncated, valid = self._step(model)
            done = terminated | truncated
            if done.any():
                final_obs = self._policy_input(self.obs[done])
                final_values = model.value(final_obs)
            self.stale_steps += int((valid & self._stale).sum())
            for i in np.flatnonzero(valid & ~self._stale):
                self._open[i].append((obs[i], action[i], logp[i], value[i], float(reward[i]),
                                      bool(terminated[i]), bool(truncated[i]), True))
            for j, i in enumerate(np.flatnonzero(done)):
                if self._stale[i]:
                    self._stale[i] = False
                    continue
                rows += self._open[i]
                rows.append((final_obs[j], action[i], logp[i], final_values[j], 0.0, False, False, False))
                self._open[i] = []
        obs, actions, logp, values, rewards, terminated, truncated, valid = zip(*rows, strict=False)
        col = lambda x, **kw: torch.as_tensor(x, device=self.device, **kw).unsqueeze(1)  # noqa: E731
        return Rollout(
            obs=torch.stack(obs).unsqueeze(1), actions=torch.stack(actions).unsqueeze(1),
            logp=torch.stack(logp).unsqueeze(1), values=torch.stack(values).unsqueeze(1),
            rewards=col(rewards, dtype=torch.float32), terminated=col(terminated), truncated=col(truncated),
            valid=col(valid), next_values=torch.zeros(1, device=self.device),
        )
