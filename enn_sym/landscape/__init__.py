"""Loss landscapes: symmetry quotients, paths, components, certificates.

An analysis package: it never trains. Minima are trained elsewhere (e.g. by
``enn_sym.train.fit_seeds``) and handed over as flat parameter vectors.

Counts of connected components found by these tools are upper bounds on the
number of components the sampled minima occupy: a path search that fails
does not prove disconnection (see ``_components``). For deep linear networks
a certificate (``disconnection_certificate``) makes the count exact below it.
"""

from enn_sym.landscape._analysis import ConnectivityResult
from enn_sym.landscape._analysis import all_pairs
from enn_sym.landscape._analysis import analyze_connectivity
from enn_sym.landscape._components import Dendrogram
from enn_sym.landscape._components import UnionFind
from enn_sym.landscape._components import canonical_partition
from enn_sym.landscape._components import connected_components
from enn_sym.landscape._components import quantile_levels
from enn_sym.landscape._components import relative_levels
from enn_sym.landscape._components import saddle_dendrogram
from enn_sym.landscape._linear import LinearProblem
from enn_sym.landscape._linear import balance
from enn_sym.landscape._linear import certificate_path
from enn_sym.landscape._linear import disconnection_certificate
from enn_sym.landscape._linear import linear_problem
from enn_sym.landscape._linear import make_linear_aligner
from enn_sym.landscape._linear import pattern_labels
from enn_sym.landscape._linear import sign_pattern
from enn_sym.landscape._linear import zhao_linear_problem
from enn_sym.landscape._objectives import CALIBRATION_TERMS
from enn_sym.landscape._objectives import FlatModel
from enn_sym.landscape._objectives import Objective
from enn_sym.landscape._objectives import flatten_module
from enn_sym.landscape._objectives import make_objective
from enn_sym.landscape._objectives import smooth_ece
from enn_sym.landscape._paths import PathProfile
from enn_sym.landscape._paths import bezier_path
from enn_sym.landscape._paths import bezier_profile
from enn_sym.landscape._paths import fit_bezier
from enn_sym.landscape._paths import fit_bezier_pairs
from enn_sym.landscape._paths import linear_path
from enn_sym.landscape._paths import linear_profile
from enn_sym.landscape._paths import linear_profiles
from enn_sym.landscape._paths import profile
from enn_sym.landscape._paths import LossJit
from enn_sym.landscape._quotient import dense_layers
from enn_sym.landscape._quotient import make_aligner
from enn_sym.landscape._quotient import mlp_apply
from enn_sym.landscape._quotient import normalize_rescaling
from enn_sym.landscape._quotient import permute_hidden
from enn_sym.landscape._quotient import weight_matching
from enn_sym.landscape._quotient import with_dense_layers
from enn_sym.landscape._report import aggregate
from enn_sym.landscape._report import aggregate_runs
from enn_sym.landscape._report import as_jsonable
from enn_sym.landscape._report import compare
from enn_sym.landscape._report import compare_runs
from enn_sym.landscape._report import markdown_report
from enn_sym.landscape._report import merge_results
from enn_sym.landscape._report import plot_barriers
from enn_sym.landscape._report import plot_components
from enn_sym.landscape._report import summarize_search
from enn_sym.landscape._report import write_report
from enn_sym.landscape._search import DEFAULT_SCHEDULE
from enn_sym.landscape._search import STOP_REASONS
from enn_sym.landscape._search import SearchResult
from enn_sym.landscape._search import UPPER_BOUND_NOTE
from enn_sym.landscape._search import certify
from enn_sym.landscape._search import certify_search
from enn_sym.landscape._search import search_paths
from enn_sym.landscape._vn_quotient import VNLabel
from enn_sym.landscape._vn_quotient import VNParams
from enn_sym.landscape._vn_quotient import make_vn_aligner
from enn_sym.landscape._vn_quotient import vn_canonicalize
from enn_sym.landscape._vn_quotient import vn_distance
from enn_sym.landscape._vn_quotient import vn_label
from enn_sym.landscape._vn_quotient import vn_layers
from enn_sym.landscape._vn_quotient import vn_permute
from enn_sym.landscape._vn_quotient import vn_scale_channels
from enn_sym.landscape._vn_quotient import vn_scale_head
from enn_sym.landscape._vn_quotient import vn_transform_frame
from enn_sym.landscape._vn_quotient import vn_weight_matching
from enn_sym.landscape._vn_quotient import with_vn_layers
