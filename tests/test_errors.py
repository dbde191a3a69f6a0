"""Errors name the field and the reason."""

import pickle

from qinternet.errors import ParameterError, QinternetError


def test_parameter_error_names_field_and_reason() -> None:
    error = ParameterError("detector.efficiency", "must be in (0, 1], got 1.5")
    assert str(error) == "detector.efficiency: must be in (0, 1], got 1.5"
    assert (error.field, error.reason) == ("detector.efficiency", "must be in (0, 1], got 1.5")
    assert isinstance(error, QinternetError)
    assert isinstance(error, ValueError)


def test_parameter_error_survives_pickling_for_worker_processes() -> None:
    error = pickle.loads(pickle.dumps(ParameterError("fibre.loss_db_per_km", "must be >= 0")))
    assert error.field == "fibre.loss_db_per_km"
