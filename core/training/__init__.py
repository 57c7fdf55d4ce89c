"""Training side of a node: model loading, reasoning-gym tasks, GRPO with SAPO sharing, checkpoints.

Public API (imports are kept lazy: importing this package does not import torch):

    from core.training.model import load_model, LoraSettings, LoadedModel
        load_model(name, mode="auto"|"4bit"|"8bit"|"bf16"|"fp32", lora=LoraSettings(), device=None,
                   gradient_checkpointing=None, adapter_dir=None, cpu_threads=None) -> LoadedModel
        LoadedModel.mode / .device / .reason / .fallback; .mode_event() -> fields of `node.mode`
    from core.training.grpo import GRPOConfig, GRPOEngine, Generation, StepMetrics, select_external
        engine = GRPOEngine(loaded, GRPOConfig(...), peer_id=peer_id)
        questions = engine.draw_questions(round)            # I questions, seeded by (round, peer id)
        gen = engine.generate(questions, round)              # Generation: .rollouts (G completions each),
                                                             #   .tokens, .seconds, .tokens_per_s
        external = engine.select_external(fetched, round)    # drop zero-advantage, sample J
        metrics = engine.train(gen.rollouts, external, gen)  # StepMetrics: loss, step_seconds, skipped, ...
    from core.training.checkpoint import CheckpointManager
        CheckpointManager(dir, keep=3).save(model, optimizer, round) / .load_latest(model, optimizer)
    from core.training.hf_push import HubPusher
        HubPusher(repo_id, token, every=N, on_result=fn).maybe_push(round, checkpoint_dir)
    from core.training.tiny import ensure_tiny_model        # offline tiny Qwen2 for CPU / tests
"""

from core.training.grpo import Generation, GRPOConfig, GRPOEngine, StepMetrics, select_external

__all__ = ["Generation", "GRPOConfig", "GRPOEngine", "StepMetrics", "select_external"]
