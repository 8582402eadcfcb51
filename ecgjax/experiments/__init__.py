"""The experiments: one module each, each a function of (config, workdir) that
`python -m ecgjax.main` dispatches to by the config's `experiment` field and a
test calls directly.

- pretraining.train_and_evaluate: multi-label pretraining (`pretrain`)
- fine_tuning.train_and_evaluate: scratch, linear probe or full (`finetune`)
- sweep.compare_and_report: modes x training-set sizes x seeds, then the report
  (`compare`)
- checkpoint_evaluation.evaluate_checkpoint: a saved model on any built dataset
  (`evaluate`)
- demo.run_demo: pretraining, the sweep and zero-shot on real ECGs (`demo`, the last
  from ecgjax.sim_to_real)

validation.py refuses a bad config before any of them starts.
"""
