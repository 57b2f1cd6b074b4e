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


def test_stacked_weights_keep_every_synapse_of_both_matrices():
    """Two 2 x 3 matrices between the same populations (Xylo's two synapses): the pair
    (0, 1) is in both, so it is listed twice, first matrix first; by hand, row 0 holds
    targets 1, 1, 2 with values 5, -7, 3 and row 1 holds target 0 with value 4."""
    first = Weights.from_dense([[0, 5, 0], [4, 0, 0]])
    second = Weights.from_dense([[0, -7, 3], [0, 0, 0]])
    both = Weights.stacked([first, second])
    assert (both.n_src, both.n_dst, both.nnz) == (2, 3, 4)
    assert both.indptr.tolist() == [0, 3, 4]
    assert both.indices.tolist() == [1, 1, 2, 0]
    assert both.values.tolist() == [5, -7, 3, 4]
    assert Weights.stacked([first]) == first


def test_stacked_weights_refuse_different_shapes():
    with pytest.raises(ValueError, match="stacked weights need one or more matrices of the same shape"):
        Weights.stacked([Weights.from_dense([[1]]), Weights.from_dense([[1, 2]])])
