"""Studies: sweeps and Monte-Carlo ensembles of a base run over fields by path, on Dask (``qinternet sweep``).

:mod:`.study` reads a study and expands its points, :mod:`.bases` runs one point as the base's command would,
:mod:`.runner` spreads the runs over a Dask cluster and keeps them in Parquet; the report is
:mod:`qinternet.report.sweep`.
"""
