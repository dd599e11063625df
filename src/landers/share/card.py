"""The model card (`README.md`) of a repository `landers push` makes: the Hub's metadata for
RL models, read by the Hub's search and leaderboards, then how the agent was trained and
evaluated and how to load it."""

from __future__ import annotations

import json
from typing import Any


def model_card(state: dict, result: dict, *, repo_id: str, files: list[str], notes: list[str], manifest: str,
               source: str | None) -> Any:
    """The repository's README.md as a `huggingface_hub.ModelCard`: the Hub's metadata for RL
    models (library, tags, a model-index whose mean_reward is "mean +/- std" on the env as
    dataset) and how the agent was trained, evaluated and is loaded. `state` is the checkpoint's
    state.json, `result` its eval.json; `source` the checkpoint's name in its run, if any."""
    import huggingface_hub as hub  # `landers.share.hub.hf` has said how to install it where it is missing

    algo, env_id, run = state["algo"], state["env_id"], state["run"]
    reward = f"{result['mean']:.2f} +/- {result['std']:.2f}"
    data = hub.ModelCardData(
        library_name="landers", tags=["reinforcement-learning", env_id, algo, "landers"],
        model_name=f"{algo}-{env_id}",
        eval_results=[hub.EvalResult(task_type="reinforcement-learning", task_name="reinforcement-learning",
                                     dataset_type=env_id, dataset_name=env_id, metric_type="mean_reward",
                                     metric_name="mean_reward", metric_value=reward)])
    random = result["random"]
    hparams = "\n".join(f"| `{k}` | `{json.dumps(v)}` |" for k, v in run.get("hparams", {}).items())
    extras = [f"- `{name}`" for name in files]
    env_args = ""
    if run.get("env_kwargs") or run.get("wrappers"):
        env_args = (f" with constructor arguments `{json.dumps(run.get('env_kwargs') or {})}` and wrappers "
                    f"`{json.dumps(list(run.get('wrappers') or []))}`")
    text = f"""
# {algo.upper()} agent for {env_id}

A {algo.upper()} policy trained on [{env_id}](https://gymnasium.farama.org/) with
[landers](https://pypi.org/project/landers/){env_args}.

## Evaluation

Mean return **{result['mean']:.2f} ± {result['std']:.2f}** over {result['episodes']} whole episodes
({'deterministic' if result.get('deterministic', True) else 'sampled'} actions, env seeds from
{result.get('seed', '?')}, after {state['global_step']:,} training steps); a random policy scores
{random['mean']:.2f} ± {random['std']:.2f} over the same seeds. The returns are in `eval.json`.

## Training

`landers train {algo} {env_id}` with seed {run.get('seed', 0)}, {run.get('steps', state['global_step']):,} env
steps{f" from the preset `{run['preset']}`" if run.get('preset') else ''}, on the
{run.get('backend', 'auto')} backend; {state['train_time']:.1f} s of training (evaluation excluded).
{f"This is the run's `{source}` checkpoint. " if source else ''}`config.json` holds the full configuration;
the hyperparameters:

| hyperparameter | value |
|---|---|
{hparams}

## Use

```bash
pip install 'landers[hub]'
landers eval hf://{repo_id}            # evaluate it again
landers record hf://{repo_id}          # a video of it
landers export hf://{repo_id}          # one ONNX graph, run by onnxruntime without torch
```

```python
import landers
agent = landers.load("hf://{repo_id}")
print(landers.evaluate(agent, episodes=10))
```

Loading reads tensors from safetensors and everything else from JSON (nothing is unpickled),
and checks every file against the SHA-256 in `{manifest}`.

## Files

{chr(10).join(extras)}
{chr(10).join(f"- Note: {n}." for n in notes)}
"""
    return hub.ModelCard(f"---\n{data.to_yaml()}\n---\n{text}")
