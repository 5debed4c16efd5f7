"""Fixtures of the anatomy tests: the sample phantom and its segmentation, made once per session."""

from __future__ import annotations

import warnings

import pytest


@pytest.fixture(scope="session")
def phantom():
    from hbiview.sample import make_phantom

    return make_phantom()


@pytest.fixture(scope="session")
def anatomy(phantom):
    from hbiview.anatomy import segment

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return segment(phantom.ct)
