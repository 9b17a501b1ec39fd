"""The live run: the scheduler, its idempotent jobs and the betting run, in one package.

- ``prices``: the latest pre-match quotes known now, per (event, book), and what is scheduled;
- ``opportunities``: what the live strategy would bet now (the service's /opportunities), and the dry-run checks;
- ``betting_run``: one live betting run through the ledger (``betpipe bet run``, the scheduler's ``betting`` job);
- ``stages``: every job as an idempotent ``(engine, settings, clock) -> StageResult``;
- ``scheduler``: APScheduler with its job store in the database, every run recorded in ``job_runs``;
- ``training``: train and register a model (``betpipe models train``, the weekly ``retrain`` job).

Below ``serving`` and ``cli``: the service may call ``opportunities``, never the other way round. Must never import
``serving``, ``cli`` or ``backtest`` (``tests/test_architecture.py`` checks), and never read the wall clock (the
caller's clock decides "now"). Nothing is re-exported here: ``opportunities`` and ``betting_run`` are both a module
and its function, and a package attribute of the same name would hide the module from ``import ... as``; importing
the package also stays free of APScheduler and the estimators.
"""
