"""Every figure this app quotes from a paper: its value, where the paper prints it, where we checked it.

The one place for the papers' numbers (DESIGN.md, "Measured claims": hand-typed figures in the
catalogs are only the papers' quoted figures, kept in one place with their source). Each value
was read in at least two independent copies of the paper's text (``SOURCES``), never typed from
memory; a figure that could not be read twice is left out. tests/test_papers.py holds the
catalogs to these values and to one name per paper (``CITATIONS``).

Plain Python: no Paddle, no Streamlit, so pages, tests and notebooks import it for nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

# One short name per paper, the same in every catalog sentence that cites it.
HE_2015 = "He et al. 2015"  # Deep Residual Learning for Image Recognition, arXiv:1512.03385 (CVPR 2016)
# Identity Mappings in Deep Residual Networks, arXiv:1603.05027 (ECCV 2016)
HE_2016 = "He et al. 2016 (Identity Mappings)"
# Residual Networks Behave Like Ensembles of Relatively Shallow Networks, arXiv:1605.06431 (NeurIPS 2016)
VEIT_2016 = "Veit et al. 2016"
LI_2018 = "Li et al. 2018"  # Visualizing the Loss Landscape of Neural Nets, arXiv:1712.09913 (NeurIPS 2018)

CITATIONS: dict[str, dict[str, str]] = {
    HE_2015: {"en": "He et al. 2015", "zh": "He 等 2015"},
    HE_2016: {"en": "He et al. 2016 (Identity Mappings)", "zh": "He 等 2016（Identity Mappings）"},
    VEIT_2016: {"en": "Veit et al. 2016", "zh": "Veit 等 2016"},
    LI_2018: {"en": "Li et al. 2018", "zh": "Li 等 2018"},
}

# The copies of the papers each value was read in (the project's search tool over public text;
# "file id" is that index's id, for files whose repository it does not name). Derived pages
# with altered numbers exist (e.g. "fate-oracle.com/trap/…" rewrites Table 3; a summary of He et al.
# 2016 (Identity Mappings), file id 53303093229, gives its 1×1 conv shortcut 6.91 % and dropout 7.17 %,
# where both copies below print 12.22 and "fail"): none is used.
SOURCES: dict[str, str] = {
    "he15-tables": "He et al. 2015, tables extracted from the PDF: github.com/pranav-85/agentic_rag, "
                   "src/parse/output_tables/sample_page0.md (Table 1), sample_page1.md (Table 2), "
                   "sample_page2.md (Table 3), sample_page5.md (Sec. 4.2's layout), sample_page6.md (Table 6)",
    "he15-notes": "A section-by-section study of He et al. 2015 reprinting Tables 1, 2, 3 and 6 in full "
                  "(public code index, file id 68543606197)",
    "he15-text": "He et al. 2015, the CVPR text in Markdown (public code index, file id 54512746250); "
                 "its tables are images, so only the figures in its prose",
    "he15-bilingual": "He et al. 2015, English text with a Chinese translation (public code index, "
                      "file id 22830438366); prose only",
    "he15-translation": "He et al. 2015, another English text with a Chinese translation (public code index, "
                        "file id 38706688507); prose only",
    "he16-md": "He et al. 2016 (Identity Mappings), full text in Markdown with Tables 1-5 in HTML "
               "(public code index, file id 59087116786)",
    "he16-bilingual": "He et al. 2016 (Identity Mappings), English text with a Chinese translation and "
                      "Tables 1-4 in Markdown (public code index, file id 38704144510)",
    "he16-text": "He et al. 2016 (Identity Mappings), text extracted from the PDF: github.com/fjiangAI/MMAPIS, "
                 "server/preprocessing/23_128/test_2024-01-27-19-53_raw.md; prose only",
    "veit-survey": "A literature survey quoting Veit et al. 2016 verbatim by section (Sec. 4.1-4.3, "
                   "Fig. 5(b) caption) (public code index, file id 56739996498)",
    "veit-notes": "Reading notes on Veit et al. 2016, experiment by experiment with figure numbers "
                  "(public code index, file id 11803156502)",
    "he15-captions": "He et al. 2015, full text in Markdown with the figure captions (public code index, "
                     "file id 53479251437); prose only",
    "he15-bilingual-captions": "He et al. 2015, English text and figure captions with a Chinese translation "
                               "(public code index, file id 24040006225); prose only",
    "veit-review": "A review of Veit et al. 2016 quoting its effective-path experiment on the "
                   "54-module net (public code index, file id 37280442718)",
}


@dataclass(frozen=True)
class Figure:
    """One number a paper prints, and where we read it."""

    value: float | str  # as printed; "fail" where the paper prints that word instead of a number
    unit: str
    paper: str  # a key of CITATIONS
    where: str  # its table, figure or section
    what: str  # what it measures, in a few words
    sources: tuple[str, ...]  # keys of SOURCES, at least two


def _figure(paper: str, value: float | str, unit: str, where: str, what: str, *sources: str) -> Figure:
    return Figure(value, unit, paper, where, what, sources)


_he15, _he16 = partial(_figure, HE_2015), partial(_figure, HE_2016)


T1, T2, T3, T6, T7 = "he15-tables", "he15-notes", "he15-text", "he15-bilingual", "he15-translation"
I1, I2, I3 = "he16-md", "he16-bilingual", "he16-text"
GMACS = "G multiply-adds"  # the paper's "FLOPs" are multiply-adds, per 224×224 image
IMAGENET_TOP1 = "% top-1 error"  # ImageNet validation, 10-crop testing
CIFAR_ERROR = "% test error"  # CIFAR-10 test set
R110 = "% test error, ResNet-110 on CIFAR-10"

FIGURES: dict[str, Figure] = {
    # He et al. 2015, Table 1 (and Sec. 3.3 / 4.1 for the ones its prose repeats)
    "he2015.gmacs.resnet18": _he15(1.8, GMACS, "Table 1", "ResNet-18", T1, T2),
    "he2015.gmacs.resnet34": _he15(3.6, GMACS, "Table 1", "ResNet-34", T1, T2, T3),
    "he2015.gmacs.resnet50": _he15(3.8, GMACS, "Table 1", "ResNet-50", T1, T2, T3),
    "he2015.gmacs.resnet101": _he15(7.6, GMACS, "Table 1", "ResNet-101", T1, T2),
    "he2015.gmacs.resnet152": _he15(11.3, GMACS, "Table 1", "ResNet-152", T1, T2, T3),
    "he2015.gmacs.vgg16": _he15(15.3, GMACS, "Sec. 4.1", "VGG-16", T3, T6, T2),
    "he2015.gmacs.vgg19": _he15(19.6, GMACS, "Sec. 3.3, Fig. 3", "VGG-19", T3, T6, T2),
    # Table 2: plain vs residual, identity shortcuts with zero-padding (option A) in both ResNets
    "he2015.top1.plain18": _he15(27.94, IMAGENET_TOP1, "Table 2", "plain-18", T1, T2),
    "he2015.top1.plain34": _he15(28.54, IMAGENET_TOP1, "Table 2", "plain-34", T1, T2),
    "he2015.top1.resnet18": _he15(27.88, IMAGENET_TOP1, "Table 2", "ResNet-18 (option A)", T1, T2),
    "he2015.top1.resnet34": _he15(25.03, IMAGENET_TOP1, "Table 2", "ResNet-34 (option A)", T1, T2),
    # Table 3: the three stage-start shortcuts on ResNet-34 (A = Table 2's net)
    "he2015.top1.resnet34_a": _he15(25.03, IMAGENET_TOP1, "Table 3", "ResNet-34 A: zero-padding", T1, T2),
    "he2015.top1.resnet34_b": _he15(24.52, IMAGENET_TOP1, "Table 3", "ResNet-34 B: projections at stage starts", T1, T2),
    "he2015.top1.resnet34_c": _he15(24.19, IMAGENET_TOP1, "Table 3", "ResNet-34 C: projections everywhere", T1, T2),
    # Table 6: the CIFAR-10 ResNets (option A everywhere, so plain twins have the same parameters)
    "he2015.cifar.error.resnet20": _he15(8.75, CIFAR_ERROR, "Table 6", "ResNet-20", T1, T2),
    "he2015.cifar.error.resnet56": _he15(6.97, CIFAR_ERROR, "Table 6", "ResNet-56", T1, T2),
    "he2015.cifar.error.resnet110": _he15(6.43, CIFAR_ERROR, "Table 6", "ResNet-110, best of 5 runs", T1, T2, T3),
    "he2015.cifar.error.resnet1202": _he15(7.93, CIFAR_ERROR, "Table 6", "ResNet-1202", T1, T2, T3),
    "he2015.cifar.params.resnet20": _he15(0.27, "M parameters", "Table 6", "ResNet-20", T1, T2),
    "he2015.cifar.params.resnet56": _he15(0.85, "M parameters", "Table 6", "ResNet-56", T1, T2),
    "he2015.cifar.params.resnet110": _he15(1.7, "M parameters", "Table 6", "ResNet-110", T1, T2),
    "he2015.cifar.params.resnet1202": _he15(19.4, "M parameters", "Table 6, Sec. 4.2", "ResNet-1202", T1, T2, T3),
    # Sec. 4.2: ResNet-110's constant warm-up, "0.01 ... until the training error is below 80%
    # (about 400 iterations), and then go back to 0.1"
    "he2015.warmup.lr": _he15(0.01, "learning rate", "Sec. 4.2", "ResNet-110's warm-up rate", T3, T6),
    "he2015.warmup.train_error_below": _he15(80, "% training error", "Sec. 4.2", "warm-up until below this", T3, T6),
    "he2015.warmup.iterations": _he15(400, "iterations", "Sec. 4.2", "about how long the warm-up lasts", T3, T6),
    "he2015.lr": _he15(0.1, "learning rate", "Sec. 4.2", "the CIFAR nets' starting rate", T3, T6),
    # Sec. 4.2: the CIFAR recipe and design ("The numbers of filters are {16, 32, 64}")
    "he2015.momentum": _he15(0.9, "SGD momentum", "Sec. 4.2", "the CIFAR nets' momentum", T3, T7),
    "he2015.weight_decay": _he15(0.0001, "weight decay", "Sec. 4.2", "the CIFAR nets' weight decay", T3, T7),
    "he2015.cifar.iterations": _he15(64000, "iterations", "Sec. 4.2", "training ends at 64k iterations", T3, T7),
    "he2015.cifar.first_width": _he15(16, "channels", "Sec. 4.2", "filters of the first stage (16, 32, 64)", T3, T1),

    # He et al. 2016 (Identity Mappings), Table 1: shortcut variants on every unit of ResNet-110;
    # b_g is the gate's initial bias
    "he2016.fail_above": _he16(20, "% test error", "Table 1 caption", '"fail" means a test error above this', I1, I2),
    "he2016.shortcut.identity": _he16(6.61, R110, "Table 1", "original: identity shortcut", I1, I2, I3),
    "he2016.shortcut.zero": _he16("fail", R110, "Table 1", "scaling 0 on shortcut, 1 on F: plain net", I1, I2),
    "he2016.shortcut.scaling_shortcut": _he16("fail", R110, "Table 1", "scaling 0.5 on shortcut, 1 on F", I1, I2),
    "he2016.shortcut.scaling_both": _he16(12.35, R110, "Table 1", "scaling 0.5 on shortcut and F", I1, I2, I3),
    "he2016.shortcut.exclusive_gating_0_to_-5": _he16("fail", R110, "Table 1", "exclusive gating, b_g 0 to -5", I1, I2),
    "he2016.shortcut.exclusive_gating_-6": _he16(8.70, R110, "Table 1", "exclusive gating, b_g -6", I1, I2, I3),
    "he2016.shortcut.exclusive_gating_-7": _he16(9.81, R110, "Table 1", "exclusive gating, b_g -7", I1, I2),
    "he2016.shortcut.shortcut_gating_0": _he16(12.86, R110, "Table 1", "shortcut-only gating, b_g 0", I1, I2, I3),
    "he2016.shortcut.shortcut_gating_-6": _he16(6.91, R110, "Table 1", "shortcut-only gating, b_g -6", I1, I2, I3),
    "he2016.shortcut.conv1x1": _he16(12.22, R110, "Table 1", "1×1 conv shortcut", I1, I2, I3),
    "he2016.shortcut.dropout": _he16("fail", R110, "Table 1", "dropout 0.5 on the shortcut", I1, I2),
    "he2016.shortcut.scale": _he16(0.5, "shortcut scale λ", "Sec. 3.1, Table 1", "the constant scaling studied", I1, I2),
    # Table 2: where BN and ReLU sit in the unit (Fig. 4), ResNet-110 and ResNet-164, CIFAR-10
    "he2016.unit.original.110": _he16(6.61, CIFAR_ERROR, "Table 2", "ResNet-110, original unit", I1, I2),
    "he2016.unit.bn_after_add.110": _he16(8.17, CIFAR_ERROR, "Table 2", "ResNet-110, BN after addition", I1, I2),
    "he2016.unit.relu_before_add.110": _he16(7.84, CIFAR_ERROR, "Table 2", "ResNet-110, ReLU before add", I1, I2, I3),
    "he2016.unit.relu_preact.110": _he16(6.71, CIFAR_ERROR, "Table 2", "ResNet-110, ReLU-only pre-activation", I1, I2),
    "he2016.unit.full_preact.110": _he16(6.37, CIFAR_ERROR, "Table 2", "ResNet-110, full pre-activation", I1, I2),
    "he2016.unit.original.164": _he16(5.93, CIFAR_ERROR, "Table 2", "ResNet-164, original unit", I1, I2, I3),
    "he2016.unit.bn_after_add.164": _he16(6.50, CIFAR_ERROR, "Table 2", "ResNet-164, BN after addition", I1, I2),
    "he2016.unit.relu_before_add.164": _he16(6.14, CIFAR_ERROR, "Table 2", "ResNet-164, ReLU before addition", I1, I2),
    "he2016.unit.relu_preact.164": _he16(5.91, CIFAR_ERROR, "Table 2", "ResNet-164, ReLU-only pre-activation", I1, I2),
    "he2016.unit.full_preact.164": _he16(5.46, CIFAR_ERROR, "Table 2", "ResNet-164, full pre-activation", I1, I2),
    # Tables 3 and 4: the bottleneck CIFAR nets (depth 9n + 2), original vs full pre-activation unit
    "he2016.resnet1001.original": _he16(7.61, CIFAR_ERROR, "Table 3", "ResNet-1001, original unit", I1, I2),
    "he2016.resnet1001.preact": _he16(4.92, CIFAR_ERROR, "Tables 3, 4", "ResNet-1001, pre-act, median of 5", I1, I2),
    "he2016.resnet1001.preact_batch64": _he16(4.62, CIFAR_ERROR, "Table 4", "ResNet-1001, pre-act, batch 64", I1, I2),
    "he2016.params.resnet164": _he16(1.7, "M parameters", "Table 4", "ResNet-164", I1, I2),
    "he2016.params.resnet1001": _he16(10.2, "M parameters", "Table 4", "ResNet-1001", I1, I2),

    # Veit et al. 2016, Sec. 4: the lesion study's net is a ResNet-110 with 54 residual blocks
    "veit2016.blocks": Figure(54, "residual blocks", VEIT_2016, "Sec. 4", "blocks of the 110-layer net they lesion",
                              ("veit-survey", "veit-review")),
}


@dataclass(frozen=True)
class Place:
    """A table, figure or section the app cites for a claim that carries no number."""

    paper: str
    where: str
    claim: str
    sources: tuple[str, ...]


# Checked like the figures. Li et al. 2018's locations (Sec. 4, Fig. 5) could not be: not here.
PLACES: dict[str, Place] = {
    "he2015.option_a_in_table2": Place(
        HE_2015, "Sec. 4.1, Table 2, Fig. 4",
        "the plain-vs-residual ImageNet comparison (ResNet-18/34) uses identity shortcuts with zero-padding (option A)",
        (T3, T6)),
    "he2015.option_b_from_50": Place(
        HE_2015, "Sec. 4.1, Table 3 caption", "ResNet-50/101/152 use projections where shapes change (option B)",
        (T3, T6)),
    "he2016.scaling_analysis": Place(
        HE_2016, "Sec. 3, Eqs. 6-8",
        "a shortcut scaled by λ multiplies the shortcut's signal and gradient by the product of the λs: "
        "exponentially large for λ > 1, exponentially small for λ < 1 (with the identity after the addition)",
        (I1, I2)),
    "veit2016.single_block": Place(
        VEIT_2016, "Sec. 4.1", "deleting one block of a trained ResNet barely changes its error, "
        "except the downsampling blocks", ("veit-survey", "veit-review")),
    # Fig. 5(a) is named in veit-notes; veit-survey puts the experiment in Sec. 4.2 and quotes
    # Fig. 5(b)'s caption (re-ordering), which leaves 5(a) for the deletions.
    "he2015.fig7": Place(
        HE_2015, "Sec. 4.2, Fig. 7",
        "the std of each 3×3 layer's response (after BN, before ReLU/addition): ResNets generally respond less than "
        "their plain counterparts, and the deeper ResNet less (ResNet-20, 56, 110)", ("he15-captions", "he15-bilingual-captions")),
    "veit2016.random_blocks": Place(
        VEIT_2016, "Sec. 4.2, Fig. 5(a)", "the error rises smoothly as more and more random blocks are deleted",
        ("veit-notes", "veit-survey")),
    # The Why page's evidence (issue 21): each read in the paper's text (T3) and in its bilingual copy (T7)
    "he2015.not_vanishing_gradients": Place(
        HE_2015, "Sec. 4.1",
        "the plain nets are trained with BN, so their forward signals have non-zero variances, and their backward "
        "gradients exhibit healthy norms: neither vanishes; the authors conjecture exponentially low convergence rates",
        (T3, T7)),
    "he2015.projections_not_essential": Place(
        HE_2015, "Sec. 4.1, Table 3",
        "A, B and C all beat plain-34 by far; their small differences show that projection shortcuts are not "
        "essential for addressing the degradation problem (B > A: the zero-padded channels learn no residual; "
        "C > B: the extra parameters of many projections)", (T3, T7)),
    "he2015.bottleneck_for_cost": Place(
        HE_2015, "Sec. 4.1, Fig. 5",
        "the bottleneck design is chosen for the training time the authors could afford (a footnote: mainly practical "
        "considerations); a bottleneck and a basic block of a quarter of its width have similar time complexity",
        (T3, T7)),
    "he2015.bottleneck_identity": Place(
        HE_2015, "Sec. 4.1",
        "a projection instead of a bottleneck block's identity shortcut doubles time complexity and model size, as the "
        "shortcut connects the two high-dimensional ends", (T3, T7)),
    # Sec. 4.1: "Table 2 shows that the ReLU-only pre-activation performs very similar to the baseline on
    # ResNet-110/164" (6.71 vs 6.61, 5.91 vs 5.93): read as alike, not as worse (``ALIKE_IN_PAPER``)
    "he2016.relu_preact_similar": Place(
        HE_2016, "Sec. 4.1, Table 2",
        "the ReLU-only pre-activation unit performs very similar to the original unit on ResNet-110 and ResNet-164",
        (I1, I2)),
    "he2015.resnet1202_overfits": Place(
        HE_2015, "Sec. 4.2",
        "ResNet-1202 tests worse than ResNet-110 with a similar training error; the authors argue it overfits, being "
        "unnecessarily large for this small data set (no dropout or maxout used)", (T3, T7)),
}

# He et al. 2016 (Identity Mappings)' figure letter of each shortcut (Fig. 2, Table 1's "Fig." column: the
# plain net is its constant scaling by 0) and of each unit (Fig. 4, Table 2's column), read in I1 and I2:
# setting -> value -> (figure, letter). The lab and the pages gloss each variant's name with it.
FIGURE_LETTERS: dict[str, dict[str, tuple[str, str]]] = {
    "shortcut": {
        "identity": ("2", "a"), "scaled": ("2", "b"), "none": ("2", "b"), "exclusive_gate": ("2", "c"),
        "shortcut_gate": ("2", "d"), "conv1x1": ("2", "e"), "dropout": ("2", "f"),
    },
    "unit": {
        "original": ("4", "a"), "bn_after_add": ("4", "b"), "relu_before_add": ("4", "c"), "relu_preact": ("4", "d"),
        "full_preact": ("4", "e"),
    },
}
FIGURE_LETTER_SOURCES = (I1, I2)
# Figures the paper's own text calls alike to its baseline's, though the numbers differ a little: figure -> its PLACES entry.
ALIKE_IN_PAPER: dict[str, str] = {
    "he2016.unit.relu_preact.110": "he2016.relu_preact_similar", "he2016.unit.relu_preact.164": "he2016.relu_preact_similar",
}


# Catalog sentences that quote figures through placeholders (catalog key -> placeholder -> figure), so
# no figure is typed into a catalog: the page fills them with ``quoted(key)``.
QUOTED: dict[str, dict[str, str]] = {
    "why.evidence_imagenet": {
        "plain18": "he2015.top1.plain18", "plain34": "he2015.top1.plain34",
        "resnet18": "he2015.top1.resnet18", "resnet34": "he2015.top1.resnet34",
        "cifar20": "he2015.cifar.error.resnet20", "cifar56": "he2015.cifar.error.resnet56",
        "cifar110": "he2015.cifar.error.resnet110",
    },
    "why.evidence_depth_limit": {
        "cifar110": "he2015.cifar.error.resnet110", "cifar1202": "he2015.cifar.error.resnet1202",
        "params1202": "he2015.cifar.params.resnet1202",
    },
    "why.evidence_options": {
        "plain34": "he2015.top1.plain34", "a": "he2015.top1.resnet34_a", "b": "he2015.top1.resnet34_b",
        "c": "he2015.top1.resnet34_c",
    },
}
QUOTED["why.ev_depth_summary"] = {**QUOTED["why.evidence_imagenet"], "cifar1202": "he2015.cifar.error.resnet1202"}  # its chart
QUOTED["why.ev_options_summary"] = QUOTED["why.evidence_options"]


def printed(name: str) -> str:
    """Figure ``name`` as the paper prints it: "27.94", "fail"."""
    value = FIGURES[name].value
    return value if isinstance(value, str) else f"{value:g}"


def quoted(key: str) -> dict[str, str]:
    """The placeholders of catalog sentence ``key`` (``QUOTED``), each filled with its figure as printed."""
    return {placeholder: printed(name) for placeholder, name in QUOTED[key].items()}
