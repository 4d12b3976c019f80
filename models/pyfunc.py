"""The MLflow pyfunc wrapper: one registered model carries the whole ModelBundle."""

from __future__ import annotations

import mlflow.pyfunc

from models.bundle import ModelBundle

# Explicit requirements: inferring them costs ~3 s per log_model.
PIP_REQUIREMENTS = [
    "lightgbm>=4.6",
    "scikit-learn>=1.6",
    "polars>=2.1",
    "pandas>=2.2",
    "numpy>=2.0",
]


class QuietchurnModel(mlflow.pyfunc.PythonModel):
    """``predict`` on a feature frame returns churn_probability and dissatisfaction_probability."""

    def __init__(self, bundle: ModelBundle):
        self.bundle = bundle

    def predict(self, context, model_input, params=None):
        return self.bundle.predict_pandas(model_input)


def load_bundle(model_uri: str) -> ModelBundle:
    """Load a registered quietchurn model (e.g. ``models:/quietchurn-demo@champion``) as its bundle."""
    return mlflow.pyfunc.load_model(model_uri).unwrap_python_model().bundle
