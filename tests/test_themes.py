from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest

from semclust.errors import EmptyStoreError, InvalidArgumentError, NotFoundError, StoreFormatError
from semclust.store.themes import store_themes, theme_of
from semclust.themes import (
    SMALL_CORPUS,
    ThemeModel,
    Themes,
    default_min_cluster_size,
    match_themes,
)
from semclust.themes.labels import class_tfidf, dedupe_keywords, theme_name

ROOT = Path(__file__).resolve().parents[1]

VOCAB = {
    "football": "goal striker league match penalty keeper midfield stadium referee coach season club",
    "markets": "shares investors profit earnings dividend stock market bank inflation bonds trading",
    "space": "rocket orbit astronaut satellite launch moon mars telescope nasa spacecraft galaxy",
    "cooking": "recipe oven flour butter sugar bake dough pastry garlic sauce onion simmer",
}


def blobs(n_per: int = 50, k: int = 4, dim: int = 32, spread: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, dim))
    X = np.vstack([c + spread * rng.normal(size=(n_per, dim)) for c in centres])
    truth = np.repeat(np.arange(k), n_per)
    words = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot"]
    texts = [f"{words[t]} {words[t]}word common filler text" for t in truth]
    return X, truth, texts


def articles(topic: str, n: int, start: int = 0, seed: int = 0, words: int = 12) -> list[dict[str, str]]:
    rng = np.random.default_rng(seed)
    vocab = VOCAB[topic].split()
    return [
        {"id": f"{topic}-{start + i}", "title": f"{topic} news {start + i}", "text": " ".join(rng.choice(vocab, words)) + "."}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def fitted():
    X, truth, texts = blobs()
    return ThemeModel().fit(X, texts=texts), X, truth


# -- the estimator ----------------------------------------------------------------------------------


def test_estimator_contract() -> None:
    model = ThemeModel(min_cluster_size=7, ngram_range=(1, 1))
    params = model.get_params()
    assert params["min_cluster_size"] == 7 and params["ngram_range"] == (1, 1) and params["umap_model"] is None
    assert model.set_params(min_cluster_size=9) is model and model.min_cluster_size == 9
    with pytest.raises(InvalidArgumentError):
        model.set_params(nope=1)
    assert not [a for a in vars(model) if a.endswith("_")]  # nothing fitted in __init__
    with pytest.raises(InvalidArgumentError):
        model.predict(np.ones((2, 4)))
    with pytest.raises(InvalidArgumentError):  # parameters are validated in fit, not __init__
        ThemeModel(level="paragraphs").fit(np.ones((3, 4)))
    with pytest.raises(InvalidArgumentError):
        ThemeModel().fit(np.zeros((0, 4)))
    assert "min_cluster_size=9" in repr(model)


def test_fit_recovers_blobs_and_sets_fitted_attributes(fitted) -> None:
    from sklearn.metrics import adjusted_rand_score

    model, X, truth = fitted
    fresh = ThemeModel(coords=False)
    assert fresh.fit(X[:60]) is fresh  # fit returns the estimator itself, not a copy
    assert not model.small_corpus_ and model.embedding_.shape == (len(X), 5)
    assert model.min_cluster_size_ == default_min_cluster_size(len(X))
    assert len(model.themes_) == 4
    assert adjusted_rand_score(truth, model.labels_) > 0.95
    assert set(model.timings_) == {"reduce", "cluster", "assign", "labels", "coords"}
    assert model.themes_.coords.shape == (len(X), 2)


def test_fine_cluster_size_does_not_grow_with_n() -> None:
    # The size-only rule (sqrt(n)) is gone: the fine themes have the same floor at any size and
    # the number of themes comes from the data (the theme tree), not from the corpus size.
    assert default_min_cluster_size(2100) == default_min_cluster_size(100_000) == 10
    assert default_min_cluster_size(20) == 4  # a tiny corpus still gets a few fine themes


def test_prediction_is_consistent_with_fit(fitted) -> None:
    model, X, _ = fitted
    assert np.array_equal(model.predict(X), model.labels_)
    themes = model.themes_
    for i in (0, 60, 199):
        fit_answer = themes.theme_of(str(i))
        predicted = themes.predict(X[i : i + 1])[0]
        assert fit_answer.fitted and not predicted.fitted
        assert predicted.theme_id == fit_answer.theme_id
        assert predicted.similarity == pytest.approx(fit_answer.similarity, abs=1e-5)


def test_reproducible_with_seed() -> None:
    X, _, texts = blobs(n_per=30, k=3, spread=0.4, seed=3)
    a = ThemeModel(random_state=7, coords=False).fit(X, texts=texts)
    b = ThemeModel(random_state=7, coords=False).fit(X, texts=texts)
    assert np.array_equal(a.labels_, b.labels_)
    assert np.allclose(a.embedding_, b.embedding_)
    assert np.allclose(a.centroids_, b.centroids_)
    assert [t.name for t in a.themes_] == [t.name for t in b.themes_]


def test_small_corpus_path_each_distinct_article_its_own_theme() -> None:
    rng = np.random.default_rng(1)
    base = rng.normal(size=(3, 16))
    X = np.vstack([base[0], base[0] + 0.01 * rng.normal(size=16), base[1], base[2]])
    model = ThemeModel().fit(X, ["a", "a2", "b", "c"], ["apple pie", "apple tart", "bike race", "car show"])
    assert model.small_corpus_ and model.embedding_ is None
    labels = dict(zip(model.article_ids_, model.labels_.tolist()))
    assert labels["a"] == labels["a2"]
    # a theme of one article is not a theme: every theme at the default level has two or more
    sizes = [t.size for t in model.themes_]
    assert min(sizes) >= 2 and sum(sizes) + model.themes_.n_outliers == 4
    assert model.themes_.level("fine").labels.tolist().count(-1) == model.themes_.n_outliers
    assert model.themes_.coords.shape == (4, 2)
    # the small-corpus path ends exactly at SMALL_CORPUS units
    X2, _, _ = blobs(n_per=SMALL_CORPUS // 2 + 1, k=2, seed=9)
    assert ThemeModel(coords=False).fit(X2[: SMALL_CORPUS - 1]).small_corpus_
    assert not ThemeModel(coords=False).fit(X2[:SMALL_CORPUS]).small_corpus_


def test_single_article_corpus() -> None:
    model = ThemeModel().fit(np.ones((2, 8)), ["only", "only"], ["one lonely article"])
    assert model.labels_.tolist() == [0]
    assert model.themes_.theme_of("only").themes[0][2] == 1.0


def test_chunk_level_and_article_weights() -> None:
    X, _, _ = blobs(n_per=60, k=3, seed=5)
    # 60 articles of 3 chunks, each from blob a % 3; doc0, doc3, doc6 also have a chunk of blob 1.
    rows, ids = [], []
    for a in range(60):
        for c in range(3):
            blob = 1 if (a in (0, 3, 6) and c == 2) else a % 3
            rows.append(X[blob * 60 + (a * 3 + c) % 60])
            ids.append(f"doc{a}")
    for level in ("articles", "chunks"):
        model = ThemeModel(level=level, coords=False).fit(np.array(rows), ids)
        p = model.themes_.theme_of("doc0")
        assert len(p.themes) == 2, (level, p)
        assert p.themes[0][0] == p.theme_id  # the main theme first
        assert p.themes[0][2] > p.themes[1][2]
        assert sum(w for _, _, w in p.themes) == pytest.approx(1.0, abs=1e-5)
        single = model.themes_.theme_of("doc12")
        assert [t for t, _, _ in single.themes] == [single.theme_id]


def test_outliers_novelty_and_assign_outliers(fitted) -> None:
    model, X, _ = fitted
    far = -X.mean(axis=0, keepdims=True)  # opposite of everything
    p = model.themes_.predict(far)[0]
    assert p.novel and p.theme_id == -1 and p.name == "no theme"
    q = model.themes_.predict(far, assign_outliers=True)[0]
    assert q.novel and q.theme_id >= 0 and 0.0 <= q.confidence <= 1.0

    X2 = np.vstack([X, far + 0.01, far - 0.01])
    plain = ThemeModel(coords=False).fit(X2)
    assert plain.themes_.n_outliers >= 2
    assigned = ThemeModel(coords=False, assign_outliers=True).fit(X2)
    assert assigned.themes_.n_outliers == 0
    assert assigned.themes_.assignment.outlier.sum() >= 2  # still flagged as outliers
    frame = plain.themes_.to_frame()
    assert frame.iloc[-1]["theme_id"] == -1 and frame.iloc[-1]["size"] == plain.themes_.n_outliers


# -- labels -------------------------------------------------------------------------------------------


def test_class_tfidf_keywords_and_names() -> None:
    texts = [
        "China offers Hungary security support; China and Hungary deepen security ties.",
        "Hungary and China sign a security pact in Budapest.",
        "NATO says China is watching Ukraine closely; NATO allies discuss Ukraine.",
        "Stoltenberg: NATO sees China watching the war in Ukraine.",
    ]
    kw = class_tfidf(texts, [0, 0, 1, 1])
    top0 = [w for w, _ in kw[0][:4]]
    top1 = [w for w, _ in kw[1][:4]]
    assert "hungary" in top0 and "security" in top0
    assert "nato" in top1 and "ukraine" in top1
    assert "said" not in dict(kw[0]) and "the" not in dict(kw[0])
    assert any(" " in w for w, _ in kw[0])  # bigrams
    assert theme_name(["china", "hungary", "china hungary", "security"]) == "china hungary security"
    assert theme_name(["interest rates", "rate", "fed", "dollar"]) == "interest rates fed"
    assert dedupe_keywords(["china", "hungary", "china hungary", "chinas", "budapest"]) == ["china", "hungary", "budapest"]
    assert class_tfidf(["the and of", "a an the"], [0, -1]) == {0: []}


def test_themes_views(fitted) -> None:
    model, _, _ = fitted
    themes = model.themes_
    frame = themes.to_frame()
    assert list(frame.columns) == ["theme_id", "name", "keywords", "size", "share", "representatives", "representative_ids"]
    assert frame["size"].sum() == len(themes.article_ids)
    top = themes.articles(themes.ids[0])
    assert top["main"].iloc[0] and top["similarity"].is_monotonic_decreasing
    assert set(top.columns) >= {"doc_id", "weight", "similarity", "strength", "confidence"}
    with pytest.raises(NotFoundError):
        themes.articles(999)
    assert "<table>" in themes._repr_html_()
    data = json.loads(json.dumps(themes.to_dict(articles=True)))
    assert data["n_themes"] == 4 and len(data["articles"]) == 200
    assert len(themes[themes.ids[0]].representatives) == 3


def test_hierarchy_and_reduce(fitted) -> None:
    model, X, _ = fitted
    themes = model.themes_
    tree = themes.hierarchy()
    assert len(tree) == len(themes) - 1
    assert sorted(tree.iloc[-1]["themes"]) == sorted(themes.ids)
    assert tree["parent_id"].min() > max(themes.ids)
    coarse = themes.reduce(2)
    assert len(coarse) == 2 and set(coarse.ids) <= set(themes.ids)
    assert sum(t.size for t in coarse) == sum(t.size for t in themes)
    assert set(coarse.labels.tolist()) - {-1} == set(coarse.ids)
    assert {p.theme_id for p in coarse.predict(X)} - {-1} <= set(coarse.ids)
    assert themes.reduce(10) is themes
    with pytest.raises(InvalidArgumentError):
        themes.reduce(0)


def test_over_time() -> None:
    X, _, texts = blobs(n_per=20, k=2, seed=2)
    dates = {str(i): (f"2024-01-{1 + i % 14:02d}" if i % 5 else None) for i in range(40)}
    themes = ThemeModel(coords=False).fit(X, texts=texts, published=dates).themes_
    weekly = themes.over_time("W")
    assert int(weekly.to_numpy().sum()) == sum(1 for d in dates.values() if d)
    assert list(weekly.index.strftime("%Y-%m-%d")) == ["2024-01-01", "2024-01-08"]  # two Monday weeks
    with pytest.raises(InvalidArgumentError):
        themes.over_time("fortnightly-ish")


def test_save_load_round_trip(fitted, tmp_path: Path) -> None:
    model, X, _ = fitted
    themes = model.themes_
    folder = themes.save(tmp_path / "themes")
    assert (folder / "themes.json").exists() and (folder / "centroids.npy").exists()
    assert not list(folder.glob("*.pkl"))
    loaded = Themes.load(folder)
    assert loaded.to_dict(articles=True) == json.loads(json.dumps(themes.to_dict(articles=True)))
    assert np.array_equal(loaded.centroids, themes.centroids)
    assert np.array_equal(loaded.coords, themes.coords)
    assert [p.theme_id for p in loaded.predict(X)] == model.labels_.tolist()
    themes.save(folder)  # overwriting works
    manifest = json.loads((folder / "themes.json").read_text())
    manifest["format_version"] = 99
    (folder / "themes.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreFormatError, match="refit=True"):
        Themes.load(folder)
    with pytest.raises(NotFoundError):
        Themes.load(tmp_path / "nothing")


def test_loading_and_predicting_do_not_import_umap_or_sklearn(fitted, tmp_path: Path) -> None:
    import subprocess
    import sys

    model, X, _ = fitted
    model.themes_.save(tmp_path / "t")
    np.save(tmp_path / "x.npy", X[:5])
    code = (
        "import sys, numpy as np; from semclust.themes import Themes; "
        f"t = Themes.load({str(tmp_path / 't')!r}); t.predict(np.load({str(tmp_path / 'x.npy')!r})); "
        "t.to_frame(); t.articles(0); "
        "bad = [m for m in ('umap', 'sklearn', 'numba', 'hdbscan') if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_match_themes_keeps_ids_and_numbers_new_ones() -> None:
    X, _, texts = blobs(n_per=40, k=4, seed=4)
    old = ThemeModel(coords=False).fit(X[:120], texts=texts[:120]).themes_
    new = ThemeModel(coords=False, random_state=1).fit(X, texts=texts).themes_
    matched = match_themes(new, old)
    by_doc_old = dict(zip(old.article_ids, old.labels.tolist()))
    by_doc_new = dict(zip(matched.article_ids, matched.labels.tolist()))
    agree = np.mean([by_doc_old[a] == by_doc_new[a] for a in old.article_ids])
    assert agree > 0.95
    assert matched.id_map == {t: t for t in old.ids}
    fresh = set(matched.ids) - set(old.ids)
    assert fresh == {old.next_id} and matched.next_id > old.next_id  # a fresh id, never used at any level
    assert all(by_doc_new[str(i)] == old.next_id for i in range(120, 160) if by_doc_new[str(i)] >= 0)


# -- the store ----------------------------------------------------------------------------------------


def test_store_themes_cached_refit_on_change_with_stable_ids(make_store, monkeypatch) -> None:
    store = make_store()
    with pytest.raises(EmptyStoreError):
        store_themes(store)
    store.add(articles("football", 20) + articles("markets", 20, seed=1) + articles("space", 20, seed=2))
    first = store_themes(store)
    assert first.generation == store.generation and len(first) == 3
    names = {t.id: t.name for t in first}
    football = first.theme_of("football-0").theme_id
    assert any(w in names[football] for w in VOCAB["football"].split())

    calls = []
    original = ThemeModel.fit
    monkeypatch.setattr(ThemeModel, "fit", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    again = store_themes(store)  # loaded from the store, not refitted
    assert not calls and again.to_dict() == json.loads(json.dumps(first.to_dict()))

    store.add(articles("cooking", 20, seed=3) + articles("football", 5, start=20, seed=4))
    second = store_themes(store)
    assert calls and second.generation == store.generation and second.previous_generation == first.generation
    for doc in ("football-0", "markets-0", "space-0"):
        assert second.theme_of(doc).theme_id == first.theme_of(doc).theme_id
    assert second.id_map == {t: t for t in first.ids}
    cooking = second.theme_of("cooking-0").theme_id
    assert cooking not in first.ids and cooking == first.next_id
    assert second.theme_of("football-22").theme_id == football

    calls.clear()
    store_themes(store, min_cluster_size=6)  # other parameters: refit
    assert calls
    calls.clear()
    assert store_themes(store).params["min_cluster_size"] == 6 and not calls  # kept, cached
    with pytest.raises(InvalidArgumentError):
        store_themes(store, colour="blue")


def test_theme_of_doc_id_text_and_novelty(make_store) -> None:
    store = make_store()
    docs = articles("football", 20) + articles("markets", 20, seed=1) + articles("space", 20, seed=2)
    store.add([{**d, "title": ""} for d in docs])  # no title: the text alone gives the same vectors
    themes = store_themes(store)
    for doc_id in ("football-3", "markets-7", "space-11"):
        fitted = theme_of(store, doc_id)
        assert fitted.fitted and fitted.doc_id == doc_id
        assert fitted.theme_id == themes.theme_of(doc_id).theme_id
        text = theme_of(store, store.get(doc_id).text)  # the same article as new text
        assert not text.fitted and text.theme_id == fitted.theme_id
    new = theme_of(store, "The striker scored a penalty goal in the league match at the stadium.")
    assert new.theme_id == themes.theme_of("football-0").theme_id
    far = theme_of(store, "zyxw qwvu plokij mnbhgt")
    assert far.novel and far.theme_id == -1
    with pytest.raises(InvalidArgumentError):
        theme_of(store, "   ")


# -- the real model -----------------------------------------------------------------------------------


@pytest.mark.integration
def test_seed_themes_with_the_real_model(real_seed_store) -> None:
    # Both seed articles are about China's place in European security: one theme, not two
    # one-article themes, named for what they share.
    themes = store_themes(real_seed_store)
    assert len(themes) == 1 and themes.n_outliers == 0
    theme = themes[themes.ids[0]]
    assert theme.size == 2 and 2 <= len(theme.name.split()) <= 4
    words = set(theme.name.split())
    assert words & {"china", "chinese", "beijing"}, theme.name
    assert words & {"security", "nato", "europe", "european", "defence", "defense"}, theme.name
    assert {"china", "security"} <= set(theme.keywords)
    # every name word is in both articles (not a phrase of one of them, e.g. "accuse beijing")
    texts = [f"{d.title} {d.text}".lower() for d in real_seed_store.documents()]
    assert all(w in t for w in theme.name.split() for t in texts), theme.name
    p = theme_of(real_seed_store, "China's public security minister met Viktor Orban in Budapest to deepen security ties.")
    assert p.theme_id == theme.id
    assert theme_of(real_seed_store, "Bake the sourdough loaf at 230 degrees for forty minutes.").novel


def _data_dir() -> Path | None:
    import os

    env = os.environ.get("SEMCLUST_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if (path / "bbc" / "bbc.jsonl.gz").exists() else None


@pytest.mark.integration
@pytest.mark.data
@pytest.mark.skipif(_data_dir() is None, reason="no evaluation data (set SEMCLUST_DATA or put shared/data beside the repo)")
def test_bbc_sample_themes_match_human_topics(tmp_path: Path) -> None:
    from sklearn.metrics import v_measure_score

    import semclust

    data = _data_dir()
    assert data is not None
    with gzip.open(data / "bbc" / "bbc.jsonl.gz", "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    per_label: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        per_label.setdefault(r["label"], []).append(r)
    sample = [r for group in per_label.values() for r in group[:24]]  # 120 articles
    # and BBC's stories about China (in a title or lead): a mixed archive that covers China, as
    # one a reader of the seeds would have (a fine theme has at least min_cluster_size articles)
    china = re.compile(r"\bchin(a|ese)\b", re.IGNORECASE)
    taken = {r["id"] for r in sample}
    sample += [r for r in rows if r["id"] not in taken and china.search(f"{r['title']} {r['text'][:300]}")]
    store = semclust.Store.open(tmp_path / "bbc", cache=False)
    store.add(sample)
    seeds = store.add(semclust.read(ROOT / "seeds")).added
    themes = store_themes(store)
    truth = {r["id"]: r["label"] for r in sample}
    known = [i for i, a in enumerate(themes.article_ids) if a in truth]
    score = v_measure_score([truth[themes.article_ids[i]] for i in known], themes.labels[known])
    # five clearly different topics come out as about five themes that match them
    assert score > 0.7 and 4 <= len(themes) <= 8, (score, themes)
    assert themes.outlier_share < 0.1
    # the two seed articles are no theme of their own (a fine theme has at least
    # min_cluster_size articles): they land in the same fine theme, BBC's China stories
    assert all(themes[t].size >= 2 for t in themes.ids)
    assert len(seeds) == 2
    fine = store_themes(store, level="fine")
    seed_fine = {fine.theme_of(a).theme_id for a in seeds}
    assert len(seed_fine) == 1 and -1 not in seed_fine, seed_fine
    (seed_theme,) = seed_fine
    assert {"china", "chinese", "beijing"} & set(fine[seed_theme].name.split()), fine[seed_theme].name
    assert len({themes.theme_of(a).theme_id for a in seeds}) == 1
    # the borders are settled by the nearest articles' votes, and predicting from the stored
    # vectors follows the same rule as the fit
    assert themes.votes is not None
    vectors, _, doc_ids = store.embeddings()
    fitted = dict(zip(themes.article_ids, themes.labels.tolist()))
    predicted = [p.theme_id for p in themes.predict(vectors, doc_ids)]
    assert predicted == [fitted[a] for a in dict.fromkeys(doc_ids)]


# -- large corpora: sample fits, prediction without UMAP ---------------------------------------------


def test_sample_fit_on_a_small_corpus_with_a_lowered_threshold() -> None:
    from sklearn.metrics import adjusted_rand_score

    X, truth, texts = blobs(n_per=60, k=4, seed=6)  # 240 articles
    model = ThemeModel(max_fit_articles=100).fit(X, texts=texts)
    sample = model.fit_sample_
    assert len(sample) == 100 and np.array_equal(sample, np.unique(sample))
    assert model.embedding_.shape == (100, 5)  # UMAP saw the sample only
    params = model.themes_.params
    assert params["max_fit_articles"] == 100 and params["n_fit_articles_"] == 100
    assert params["clusterer_"] == "sklearn.HDBSCAN"
    # min_cluster_size is in articles of the whole corpus; HDBSCAN gets the sample's share of it
    assert model.min_cluster_size_ == default_min_cluster_size(240) == 10
    assert model.hdbscan_model_.min_cluster_size == max(5, round(10 * 100 / 240))
    # every article is assigned, by the same rule as prediction: the blobs, and a few outliers
    labels = model.labels_
    assert len(labels) == 240 and adjusted_rand_score(truth[labels >= 0], labels[labels >= 0]) == 1.0
    assert len(model.themes_) == 4 and model.themes_.outlier_share < 0.1
    assert np.array_equal(model.predict(X), labels)
    assert {t.name.split()[0] for t in model.themes_} == {"alpha", "bravo", "charlie", "delta"}
    # the articles outside the sample are placed on the map among their theme's sample articles
    coords = model.themes_.coords
    assert coords.shape == (240, 2) and np.isfinite(coords).all()
    rest = np.setdiff1d(np.arange(240), sample)
    rest = rest[labels[rest] >= 0]
    centres = {t: coords[sample][labels[sample] == t].mean(axis=0) for t in model.themes_.ids}
    nearest = [min(centres, key=lambda t: np.linalg.norm(coords[i] - centres[t])) for i in rest]
    assert len(rest) > 100 and np.mean(np.array(nearest) == labels[rest]) > 0.95
    # reproducible; another seed draws another sample
    again = ThemeModel(max_fit_articles=100).fit(X, texts=texts)
    assert np.array_equal(again.fit_sample_, sample) and np.array_equal(again.labels_, model.labels_)
    assert np.allclose(again.themes_.coords, coords)
    assert not np.array_equal(ThemeModel(max_fit_articles=100, random_state=1, coords=False).fit(X).fit_sample_, sample)
    # a corpus no larger than the threshold is fitted whole
    whole = ThemeModel(max_fit_articles=240, coords=False).fit(X)
    assert whole.fit_sample_ is None and whole.themes_.params["n_fit_articles_"] == 240
    assert adjusted_rand_score(whole.labels_, labels) > 0.85


def test_sample_fit_at_chunk_level() -> None:
    from sklearn.metrics import adjusted_rand_score

    X, truth, _ = blobs(n_per=40, k=3, seed=7)
    rng = np.random.default_rng(0)
    rows = np.repeat(X, 2, axis=0) + 0.05 * rng.normal(size=(240, X.shape[1]))  # 2 chunks per article
    ids = [str(i) for i in np.repeat(np.arange(120), 2)]
    model = ThemeModel(level="chunks", max_fit_articles=60).fit(rows, ids)
    assert len(model.fit_sample_) == 60 and model.embedding_.shape == (120, 5)  # the sample's chunks
    assert model.themes_.coords.shape == (120, 2)
    labels = model.labels_
    assert len(set(labels.tolist()) - {-1}) == 3 and (labels >= 0).mean() > 0.9
    assert adjusted_rand_score(truth[labels >= 0], labels[labels >= 0]) == 1.0


def test_max_fit_articles_is_validated() -> None:
    X, _, _ = blobs(n_per=20, k=2)
    for bad in (10, 0, True, 50.5):
        with pytest.raises(InvalidArgumentError, match="max_fit_articles"):
            ThemeModel(max_fit_articles=bad).fit(X)


def test_store_themes_forwards_max_fit_articles(make_store) -> None:
    store = make_store()
    store.add(articles("football", 25) + articles("markets", 25, seed=1) + articles("space", 25, seed=2))
    themes = store_themes(store, max_fit_articles=40)
    assert themes.params["max_fit_articles"] == 40 and themes.params["n_fit_articles_"] == 40
    assert len(themes) == 3 and len(themes.article_ids) == 75
    assert store_themes(store).params["n_fit_articles_"] == 40  # kept for later fits, cached
    for theme in themes:  # passages are read from the store after the fit
        assert theme.passages and all(p.text and p.text in store.get(p.doc_id).text for p in theme.passages)
    whole = store_themes(store, max_fit_articles=None)
    assert whole.params["n_fit_articles_"] == 75


def test_theme_of_in_a_fresh_process_does_not_import_umap(make_store) -> None:
    import subprocess
    import sys

    store = make_store()
    docs = articles("football", 20) + articles("markets", 20, seed=1) + articles("space", 20, seed=2)
    store.add([{**d, "title": ""} for d in docs])
    themes = store_themes(store)
    assert themes.params["small_corpus_"] is False  # fitted with UMAP and HDBSCAN
    football = themes.theme_of("football-3").theme_id
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import fake_embedder, semclust; "
        "store = semclust.Store.open(sys.argv[2], create=False); "
        "new = store.theme_of('The striker scored a penalty goal in the league match at the stadium.'); "
        "old = store.theme_of('football-3'); "
        "heavy = [m for m in ('umap', 'pynndescent', 'numba', 'hdbscan', 'fast_hdbscan') if m in sys.modules]; "
        "print(json.dumps([new.theme_id, old.theme_id, old.fitted, heavy]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(ROOT / "tests"), str(store.path)],
        check=True, capture_output=True, text=True, cwd=ROOT,
    )
    new, old, fitted, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    assert heavy == []
    assert new == old == football and fitted


def test_theme_of_never_refits_saved_themes(make_store, monkeypatch) -> None:
    from semclust.store.themes import saved_themes

    store = make_store()
    assert saved_themes(store) is None
    docs = articles("football", 20) + articles("markets", 20, seed=1) + articles("space", 20, seed=2)
    store.add([{**d, "title": ""} for d in docs])
    themes = store_themes(store)
    football = themes.theme_of("football-0").theme_id
    store.add([{**d, "title": ""} for d in articles("football", 3, start=20, seed=5)])
    stale = saved_themes(store)
    assert stale is not None and stale.generation == themes.generation < store.generation

    def no_fit(*args, **kwargs):
        raise AssertionError("theme_of must not refit")

    monkeypatch.setattr(ThemeModel, "fit", no_fit)
    added = theme_of(store, "football-21")  # not in the fit: predicted from its stored vectors
    assert added.theme_id == football and not added.fitted and added.doc_id == "football-21"
    known = theme_of(store, "football-0")  # the fit is stale: predicted as well, by the same rule
    assert known.theme_id == football and known.similarity == pytest.approx(themes.theme_of("football-0").similarity, abs=1e-5)
    text = "The striker scored a penalty goal in the league match at the stadium."
    assert theme_of(store, text).theme_id == football
    with pytest.raises(AssertionError, match="must not refit"):
        theme_of(store, "football-0", min_cluster_size=7)  # other settings: a fit
