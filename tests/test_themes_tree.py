"""The theme tree: levels chosen from the data, tree invariants, reduce along the tree, ids
stable at every level, saving without pickle, user-supplied UMAP/HDBSCAN, keyword quality.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from semclust.errors import InvalidArgumentError, NotFoundError
from semclust.store.themes import store_themes
from semclust.themes import ThemeModel, Themes
from semclust.themes.labels import class_tfidf, is_junk, make_theme, theme_name
from semclust.themes.naming import mmr, rerank_keywords
from semclust.themes.tree import THEME_FLOOR, absorb_small, cut, merge_tree

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel"]


def nested_blobs(seed: int = 0, n_per: int = 30, dim: int = 48):
    """8 tight blobs in 2 well separated groups of 4: a two-level truth."""
    rng = np.random.default_rng(seed)
    groups = rng.normal(size=(2, dim)) * 3.0
    centres = np.vstack([groups[g] + rng.normal(size=dim) for g in (0, 0, 0, 0, 1, 1, 1, 1)])
    X = np.vstack([c + 0.12 * rng.normal(size=(n_per, dim)) for c in centres])
    fine = np.repeat(np.arange(8), n_per)
    texts = [f"{WORDS[t]} {WORDS[t]}word group{t // 4} filler" for t in fine]
    return X, fine, fine // 4, texts


@pytest.fixture(scope="module")
def tree_fit():
    X, fine, coarse, texts = nested_blobs()
    return ThemeModel(coords=False).fit(X, texts=texts), X, fine, coarse


def _members(themes: Themes, theme_id: int) -> set[str]:
    return {themes.article_ids[i] for i in np.flatnonzero(themes.labels == theme_id)}


def test_levels_are_chosen_from_the_data(tree_fit) -> None:
    from sklearn.metrics import adjusted_rand_score

    model, _, fine, coarse = tree_fit
    themes = model.themes_
    assert model.levels_["themes"] == len(themes) == 8  # the 8 blobs, not the 2 groups
    assert adjusted_rand_score(fine, themes.labels) > 0.9
    broad = themes.level("broad")
    assert len(broad) == 2 and adjusted_rand_score(coarse, broad.labels) > 0.9
    assert themes.levels["broad"] == 2 and themes.levels["themes"] == 8
    assert themes.levels.get("fine", 8) == model.levels_["fine"]  # a level equal to the default is not repeated
    assert themes.level("themes") is themes and themes.level_name == "themes"
    with pytest.raises(InvalidArgumentError):
        themes.level("medium")


def test_broad_level_is_not_everything_against_an_odd_group() -> None:
    # Two related groups of four blobs (sharing a common direction) and 12 odd articles unlike
    # both: the tree joins the odd ones last, at the widest gap in merge heights. The broad
    # level must still part the two groups, not say "everything" against the odd 12.
    rng = np.random.default_rng(0)
    dim, n_per = 48, 30
    common = rng.normal(size=dim) * 2.0
    groups = rng.normal(size=(2, dim)) * 2.0 + common
    centres = np.vstack([groups[g] + rng.normal(size=dim) for g in (0, 0, 0, 0, 1, 1, 1, 1)])
    X = np.vstack([c + 0.12 * rng.normal(size=(n_per, dim)) for c in centres])
    X = np.vstack([X, -common + rng.normal(size=dim) + 0.12 * rng.normal(size=(12, dim))])
    group = np.repeat([0, 1, 2], [4 * n_per, 4 * n_per, 12])
    themes = ThemeModel(coords=False).fit(X).themes_
    broad = themes.level("broad")
    assert 3 <= len(broad) < len(themes), [t.size for t in broad]
    for t in broad:  # each broad theme lies within one group
        assert len(set(group[broad.labels == t.id].tolist())) == 1, [t.size for t in broad]


def test_tree_invariants(tree_fit) -> None:
    model, _, _, _ = tree_fit
    themes = model.themes_
    tree = themes.tree()
    depth = {"broad": 0, "themes": 1, "fine": 2}
    views = {name: themes.level(name) for name in themes.levels}  # fine may be the default cut
    assert sorted(tree["theme_id"]) == sorted(t for v in views.values() for t in v.ids)  # ids unique
    assert tree["theme_id"].is_unique
    for row in tree.itertuples():
        view = views[row.level]
        if row.level == "broad":
            assert row.parent_id == -1 and themes.parent(row.theme_id) is None
            continue
        up = themes.parent(row.theme_id)
        assert up is not None and up.id == row.parent_id
        parent_level = tree.set_index("theme_id").loc[row.parent_id, "level"]
        assert depth[parent_level] == depth[row.level] - 1  # the parent is coarser
        coarse = views[parent_level]
        assert _members(view, row.theme_id) <= _members(coarse, row.parent_id)  # and contains it
        assert row.theme_id in [c.id for c in themes.children(row.parent_id)]
    for b in views["broad"].ids:  # children partition their parent
        kids = themes.children(b)
        assert sum(k.size for k in kids) == views["broad"][b].size
    finest = views[list(themes.levels)[-1]]
    assert themes.children(finest.ids[0]) == []
    with pytest.raises(NotFoundError):
        themes.parent(10_000)


def test_reduce_follows_the_tree(tree_fit) -> None:
    model, X, _, _ = tree_fit
    themes = model.themes_
    for n in (1, 2, 3, 5):
        coarse = themes.reduce(n)
        assert len(coarse) <= n and set(coarse.ids) <= set(themes.ids)
        for t in themes.ids:  # every theme falls wholly inside one theme of the coarser cut
            inside = {int(coarse.labels[i]) for i in np.flatnonzero(themes.labels == t)}
            assert len(inside) == 1
        assert {p.theme_id for p in coarse.predict(X)} - {-1} <= set(coarse.ids)
    # the 2-theme cut is the broad level's partition
    two = themes.reduce(2)
    broad = themes.level("broad")
    pairs = {(int(a), int(b)) for a, b in zip(two.labels, broad.labels) if a >= 0}
    assert len(pairs) == 2
    assert len(themes.level(4)) == 4  # a number is a cut of the tree from the fine level
    n_leaves = len(themes.leaf_theme)
    for n in (2, 3, 5, 6):  # the cut is the saved tree's: leaves group exactly as cut() says
        groups = cut(model.tree_, n_leaves, n)
        reduced = themes.reduce(n).leaf_theme
        pairs = set(zip(groups.tolist(), reduced.tolist()))
        assert len(pairs) == len(set(groups.tolist())) == len(set(reduced.tolist())), n


def test_merge_tree_and_cut_are_group_average() -> None:
    rng = np.random.default_rng(0)
    pts = rng.normal(size=(9, 5))
    pts /= np.linalg.norm(pts, axis=1, keepdims=True)
    groups = [[0, 1, 2], [3, 4], [5], [6, 7, 8]]
    means = np.stack([pts[g].mean(axis=0) for g in groups])
    tree = merge_tree(means, np.array([len(g) for g in groups]))
    first = groups[int(tree[0, 0])] + groups[int(tree[0, 1])]
    other = [g for i, g in enumerate(groups) if i not in tree[0, :2]]
    # the first merge has the highest mean pairwise similarity of articles across two groups
    def mean_sim(a, b):
        return float((pts[a] @ pts[b].T).mean())
    assert tree[0, 2] == pytest.approx(max(mean_sim(a, b) for i, a in enumerate(groups) for b in groups[i + 1:]))
    assert tree[0, 2] == pytest.approx(mean_sim(groups[int(tree[0, 0])], groups[int(tree[0, 1])]))
    assert np.all(np.diff(tree[:, 2]) <= 1e-9)  # heights only fall
    assert tree[-1, 3] == 9 and len(first) == tree[0, 3] and other
    for k in range(1, 5):  # cuts nest
        assert len(set(cut(tree, 4, k).tolist())) == k
        fine, coarse = cut(tree, 4, k), cut(tree, 4, max(k - 1, 1))
        assert all(len({coarse[i] for i in np.flatnonzero(fine == g)}) == 1 for g in set(fine.tolist()))


def test_a_small_far_theme_joins_its_nearest_not_the_top() -> None:
    # two themes of 100 articles and a far one of 2, nearer the first than the second
    means = np.array([[1.0, 0.0, 0.0], [0.3, 0.9, 0.0], [0.1, 0.0, 0.99]])
    sizes = np.array([100, 100, 2])
    tree = merge_tree(means, sizes)
    assert cut(tree, 3, 2).tolist() == [0, 0, 1]  # by similarity alone, a theme of 2 in the 2-cut
    absorbed, k = absorb_small(tree, means, sizes, 3, THEME_FLOOR * sizes.sum())
    assert k == 2 and cut(absorbed, 3, 2).tolist() == [0, 1, 0]  # it joins its nearest theme
    assert cut(absorbed, 3, 3).tolist() == cut(tree, 3, 3).tolist()  # the finer cut is kept
    assert absorb_small(tree, means, sizes, 3, 2)[1] == 3  # none smaller than the floor
    assert absorb_small(tree, means, sizes, 2, 1000)[1] == 2  # all smaller: unchanged


def test_absorbing_small_themes_keeps_a_tree_of_nested_cuts() -> None:
    rng = np.random.default_rng(1)
    for _ in range(100):
        n = int(rng.integers(3, 25))
        means = rng.normal(size=(n, 6))
        means *= rng.uniform(0.3, 1.0, size=(n, 1)) / np.linalg.norm(means, axis=1, keepdims=True)
        sizes = rng.integers(1, 50, size=n).astype(np.float64)
        tree = merge_tree(means, sizes)
        k, floor = int(rng.integers(1, n + 1)), float(rng.uniform(0, 150))
        absorbed, k2 = absorb_small(tree, means, sizes, k, floor)
        assert absorbed.shape == tree.shape and absorbed[-1, 3] == sizes.sum()
        assert np.all(np.diff(absorbed[:, 2]) <= 1e-12)  # heights only fall
        before, after = cut(tree, n, k), cut(absorbed, n, k2)
        assert all(len(set(after[before == g].tolist())) == 1 for g in set(before.tolist()))
        if k2 < k:
            assert np.bincount(after, weights=sizes).min() >= floor
        for finer in range(k, n + 1):  # the cuts at and below the old one are the old ones
            assert cut(absorbed, n, finer).tolist() == cut(tree, n, finer).tolist()
        for j in range(2, n + 1):  # and every cut nests in the next coarser one
            fine, coarse = cut(absorbed, n, j), cut(absorbed, n, j - 1)
            assert all(len(set(coarse[fine == g].tolist())) == 1 for g in set(fine.tolist()))


def test_save_and_load_keep_the_tree_without_pickle(tree_fit, tmp_path: Path) -> None:
    model, X, _, _ = tree_fit
    themes = model.themes_
    folder = themes.save(tmp_path / "t")
    assert not list(folder.glob("*.pkl")) and (folder / "linkage.npy").exists()
    for arr in folder.glob("*.npy"):
        np.load(arr, allow_pickle=False)
    loaded = Themes.load(folder)
    assert loaded.tree().to_dict(orient="records") == themes.tree().to_dict(orient="records")
    assert loaded.levels == themes.levels
    for name in themes.levels:
        assert np.array_equal(loaded.level(name).labels, themes.level(name).labels)
    assert np.array_equal(loaded.reduce(3).labels, themes.reduce(3).labels)
    assert [p.theme_id for p in loaded.level("fine").predict(X)] == themes.level("fine").labels.tolist()


def test_same_seed_same_tree_and_names() -> None:
    X, _, _, texts = nested_blobs(seed=2, n_per=20)
    a = ThemeModel(random_state=5, coords=False).fit(X, texts=texts)
    b = ThemeModel(random_state=5, coords=False).fit(X, texts=texts)
    assert np.array_equal(a.tree_, b.tree_) and a.levels_ == b.levels_
    assert a.themes_.tree().to_dict() == b.themes_.tree().to_dict()
    for name in a.levels_:
        assert np.array_equal(a.themes_.level(name).labels, b.themes_.level(name).labels)


def test_user_supplied_umap_and_hdbscan_models_are_used() -> None:
    from sklearn.cluster import HDBSCAN
    from umap import UMAP

    X, _, _, _ = nested_blobs(seed=3, n_per=20)
    reducer = UMAP(n_neighbors=7, n_components=3, min_dist=0.0, random_state=1, n_jobs=1)
    clusterer = HDBSCAN(min_cluster_size=17, cluster_selection_method="eom")
    calls: list[tuple[int, int]] = []

    class Recording:
        """A reducer that records what it was given (a user's own object)."""

        def fit_transform(self, units: np.ndarray) -> np.ndarray:
            calls.append(units.shape)
            return reducer.fit_transform(units)

    model = ThemeModel(umap_model=Recording(), hdbscan_model=clusterer, coords=False).fit(X)
    assert calls == [X.shape] and model.embedding_.shape == (len(X), 3)  # its output, not ours
    assert model.hdbscan_model_ is clusterer and model.clusterer_ == "sklearn.HDBSCAN"
    found = len(set(clusterer.labels_.tolist()) - {-1})
    assert model.levels_["fine"] == found  # its clusters are the fine themes
    assert model.themes_.params["hdbscan_model"] == repr(clusterer)


def test_junk_words_never_become_keywords() -> None:
    texts = [
        "I don't think the AP and Reuters wire from 1999 says &amp; &lt;b&gt;much&lt;/b&gt; gt lt about it. "
        "Don't worry: the Hungary security pact, the Hungary security deal.",
        "AFP (Reuters) - We don't know. Hungary security talks in 2024; the security of Hungary.",
        "Football match: the striker scored a goal, isn't it? The goal was in the 90th minute.",
        "Football goal: the keeper saved a penalty, doesn't he? A match of 2 goals.",
    ]
    kw = class_tfidf(texts, [0, 0, 1, 1])
    words = {w for terms in kw.values() for term, _ in terms for w in term.split()}
    assert {"hungary", "security", "football", "goal"} <= words
    junk = {"don", "don't", "ap", "afp", "reuters", "1999", "2024", "amp", "lt", "gt", "isn", "doesn", "90th"}
    assert not words & junk
    assert all(len(w) >= 3 for w in words)
    assert is_junk("don") and is_junk("ap news") and is_junk("42") and not is_junk("security pact")
    assert is_junk("net net") and not is_junk("net loss")  # "net shr vs net" without its stop words
    assert theme_name(["net net", "loss"]) == "net loss"  # a name says a word once
    assert theme_name(["rates rate", "net", "loss"]) == "rates net loss"
    # nor two forms of one word
    assert theme_name(["israeli", "israel", "arab", "peace"]) == "israeli arab peace"
    assert theme_name(["deletion", "deleted", "files"]) == "deletion files"
    assert theme_name(["japanese", "japan", "tariffs"]) == "japanese tariffs"
    assert theme_name(["station", "status", "price"]) == "station status price"  # 4 letters shared
    # keywords that are all one word's forms: the theme's further terms complete the name
    assert theme_name(["deletion", "deleted"], more=["deleted", "deletion", "files"]) == "deletion files"
    assert theme_name(["deletion", "deleted"]) == "deletion"  # nothing else to say
    terms = [("deletion", 0.9), ("deleted", 0.8), ("files", 0.5), ("disk", 0.4)]
    theme = make_theme(3, terms, 10, 100, 10, [], [], keywords=["deletion", "deleted"])
    assert theme.name == "deletion files disk" and theme.keywords == ["deletion", "deleted"]


def test_keywords_reranked_by_meaning_with_diversity() -> None:
    # words embedded as fixed vectors: "rocket" and "rockets" point the same way as the centre
    space = {"rocket": [1, 0, 0], "rockets": [0.99, 0.1, 0], "orbit": [0.7, 0.7, 0], "lunch": [0, 0, 1]}

    def vectors(words):
        return np.array([space[w] for w in words], dtype=np.float32)

    terms = {0: [("lunch", 9.0), ("rocket", 5.0), ("rockets", 4.0), ("orbit", 3.0)]}
    centre = {0: np.array([1.0, 0.2, 0.0], dtype=np.float32)}
    assert rerank_keywords(terms, centre, None, 4)[0] == ["lunch", "rocket", "orbit"]  # c-TF-IDF order
    ranked = rerank_keywords(terms, centre, vectors, 3)[0]
    assert ranked[0] == "rocket" and ranked[-1] == "lunch"  # by meaning: "lunch" is off-theme
    relevance = np.array([1.0, 0.99, 0.8])
    sims = np.array([[1.0, 0.99, 0.2], [0.99, 1.0, 0.2], [0.2, 0.2, 1.0]])
    assert mmr(relevance, sims, 2) == [0, 2]  # the near-duplicate is passed over
    assert mmr(relevance, sims, 2, weight=1.0) == [0, 1]


def test_keywords_are_words_the_themes_articles_share() -> None:
    # A two-article theme (the seeds' case): "china" and "security" are in both articles, the
    # phrases of one article are not; c-TF-IDF ties them, and the phrase sorts first.
    from semclust.themes.labels import count_terms, ctfidf, term_articles

    texts = [
        "china security europe; beijing accused hungary airspace",
        "china security europe; nato allies watching ukraine",
    ]
    counts, vocab = count_terms(texts, ngram_range=(1, 2))
    labels = np.zeros(2, dtype=np.int64)
    terms = ctfidf(counts, vocab, labels)
    found = term_articles(counts, vocab, labels, {0: [w for w, _ in terms[0]]})
    assert found[0]["china"] == 2 and found[0]["nato allies"] == 1
    space = {w: np.eye(3)[len(w) % 3] for w, _ in terms[0]}

    def vectors(words):
        return np.array([space[w] for w in words], dtype=np.float32)

    centre = {0: np.ones(3, dtype=np.float32)}
    for words in (None, vectors):
        kept = rerank_keywords(terms, centre, words, 10, articles=found)[0]
        assert len(kept) >= 3 and all(found[0][w] == 2 for w in kept), kept
    # a theme whose words are all of one article keeps them
    alone = {0: {w: 1 for w, _ in terms[0]}}
    assert rerank_keywords(terms, centre, None, 3, articles=alone)[0]


def test_ids_stable_at_every_level_after_adding_articles() -> None:
    from semclust.themes import match_themes

    X, _, _, texts = nested_blobs(seed=4)
    ids = [str(i) for i in range(len(X))]
    keep = np.arange(len(X)) % 6 != 0
    old = ThemeModel(coords=False).fit(
        X[keep], [i for i, k in zip(ids, keep) if k], [t for t, k in zip(texts, keep) if k]
    ).themes_
    new = ThemeModel(coords=False, random_state=1).fit(X, ids, texts).themes_
    matched = match_themes(new, old)
    assert "broad" in old.levels and matched.levels == old.levels
    for name in old.levels:
        before, after = old.level(name), matched.level(name)
        by_doc = dict(zip(after.article_ids, after.labels.tolist()))
        same = [by_doc[a] == t for a, t in zip(before.article_ids, before.labels.tolist()) if t >= 0]
        assert np.mean(same) > 0.95, name
        assert after.id_map == {t: t for t in before.ids}, name


# -- the store -----------------------------------------------------------------------------------------


def _articles(topic: int, n: int, start: int = 0, seed: int = 0) -> list[dict[str, str]]:
    vocab = {
        0: "goal striker league match penalty keeper midfield stadium referee coach",
        1: "shares investors profit earnings dividend stock market bank inflation bonds",
        2: "rocket orbit astronaut satellite launch moon mars telescope nasa spacecraft",
        3: "recipe oven flour butter sugar bake dough pastry garlic sauce",
    }[topic].split()
    rng = np.random.default_rng(seed)
    return [
        {"id": f"t{topic}-{start + i}", "title": "", "text": " ".join(rng.choice(vocab, 12)) + "."}
        for i in range(n)
    ]


def test_store_levels_and_ids_stable_at_every_level_after_an_add(make_store) -> None:
    store = make_store()
    store.add(_articles(0, 25) + _articles(1, 25, seed=1) + _articles(2, 25, seed=2))
    first = store.themes()
    fine_first = store.themes(level="fine")
    assert len(fine_first) == first.levels.get("fine", len(first)) >= len(first)
    assert store.themes(level=2).level_name.endswith("/2") and len(store.themes(level=2)) <= 2
    before = {name: first.level(name) for name in first.levels}
    store.add(_articles(3, 25, seed=3) + _articles(0, 5, start=25, seed=4))
    second = store.themes()
    assert second.generation > first.generation
    for name, old in before.items():
        new = second.level(name)
        kept = 0
        for t in old.ids:
            docs = _members(old, t)
            ids = {int(new.labels[new.article_ids.index(d)]) for d in docs}
            if ids == {t}:
                kept += 1
        assert kept >= 0.8 * len(old), (name, kept, len(old))  # each level keeps its ids
        fresh = set(new.ids) - {t for v in before.values() for t in v.ids}
        assert all(f >= first.next_id for f in fresh)  # new themes get ids never used
    cooking = second.theme_of("t3-0").theme_id
    assert cooking >= first.next_id


def test_cli_themes_level_and_tree(make_store, capsys) -> None:
    from semclust.cli import main

    store = make_store()
    store.add(_articles(0, 25) + _articles(1, 25, seed=1) + _articles(2, 25, seed=2))
    path = str(store.path)
    store.close()
    assert main(["themes", "--store", path, "--tree", "--json", "-q"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "themes" in out["levels"] and out["tree"]
    assert all(row["parent_id"] == -1 or any(r["theme_id"] == row["parent_id"] for r in out["tree"])
               for row in out["tree"])
    assert main(["themes", "--store", path, "--level", "fine", "--json", "-q"]) == 0
    fine = json.loads(capsys.readouterr().out)
    assert fine["n_themes"] == out["levels"].get("fine", out["levels"]["themes"])
    assert main(["themes", "--store", path, "--tree", "-q"]) == 0
    assert "levels:" in capsys.readouterr().out


def test_store_themes_level_argument_is_validated(make_store) -> None:
    store = make_store()
    store.add(_articles(0, 20) + _articles(1, 20, seed=1))
    with pytest.raises(InvalidArgumentError):
        store_themes(store, level="medium")


def test_map_colours_by_level_with_the_broader_theme_in_the_hover() -> None:
    from semclust import viz

    X, _, _, texts = nested_blobs(seed=1, n_per=15)
    themes = ThemeModel().fit(X, texts=texts).themes_
    fig = viz.plot_map(themes)
    traces = [t for t in fig.data if not t.name.startswith("no theme")]
    assert len(traces) == len(themes)
    for trace in traces:
        parent = themes.parent(int(trace.name.split(":")[0]))
        assert parent is not None and f"in: {parent.id}: {parent.name}" in trace.hovertemplate
    broad = viz.plot_map(themes, level="broad")
    assert len([t for t in broad.data if not t.name.startswith("no theme")]) == len(themes.level("broad"))


def test_meaning_picks_the_leading_keywords_and_the_rest_keep_the_ctfidf_order() -> None:
    from semclust.themes.naming import BY_MEANING

    # six candidates; by meaning the last three are best, by c-TF-IDF the first three
    names = ["tax", "budget", "vote", "orbit", "rocket", "launch"]
    space = {w: v for w, v in zip(names, [[0, 1, 0], [0, 0.9, 0.4], [0, 0.3, 1], [0.9, 0, 0.4], [1, 0.1, 0], [0.8, 0.6, 0]])}

    def vectors(words):
        return np.array([space[w] for w in words], dtype=np.float32)

    terms = {0: [(w, 10.0 - i) for i, w in enumerate(names)]}
    centre = {0: np.array([1.0, 0.0, 0.0], dtype=np.float32)}
    got = rerank_keywords(terms, centre, vectors, 6)[0]
    assert BY_MEANING == 3
    assert set(got[:3]) == {"orbit", "rocket", "launch"} and got[0] == "rocket"
    assert got[3:] == ["tax", "budget", "vote"]  # then c-TF-IDF's order, not meaning's
