import numpy as np
import pytest

from engine.netlist import Weights


def test_csr_from_dense_orders_targets_ascending_per_source():
    dense = np.array([[0, 3, 0, -1], [0, 0, 0, 0], [5, 0, 7, 0]])
    w = Weights.from_dense(dense)
    assert w.indptr.tolist() == [0, 2, 2, 4]
    assert w.indices.tolist() == [1, 3, 0, 2]
    assert w.values.tolist() == [3, -1, 5, 7]
    assert w.nnz == 4
    assert np.array_equal(w.to_dense(), dense)


def test_weights_are_read_only_and_compare_by_value():
    w = Weights.from_dense(np.eye(3, dtype=int))
    with pytest.raises(ValueError):
        w.values[0] = 9
    assert w == Weights.from_csr(3, 3, [0, 1, 2, 3], [0, 1, 2], [1, 1, 1])
    assert w != Weights.from_csr(3, 3, [0, 1, 2, 3], [0, 1, 2], [1, 2, 1])


def test_non_matrix_is_rejected():
    with pytest.raises(ValueError, match=r"weights must be 2-D, got shape \(3,\)"):
        Weights.from_dense(np.zeros(3))
