import semclust


def test_all_is_sorted_and_importable() -> None:
    names = semclust.__all__
    assert len(names) == len(set(names))  # the order itself is checked by ruff (RUF022)
    for name in names:
        assert hasattr(semclust, name), name


def test_public_members_are_exported() -> None:
    public = {n for n in dir(semclust) if not n.startswith("_")}
    modules = {n for n in public if type(getattr(semclust, n)).__name__ == "module"}
    assert public - modules - {"annotations", "logging"} == set(semclust.__all__) - {"__version__"}


def test_one_exception_tree() -> None:
    from semclust import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), semclust.SemclustError)


#: The public API as it stood before the move into subpackages; the layout change keeps it.
PUBLIC_API = [
    "FURNITURE_PATTERNS", "AddReport", "Chunk", "Document", "Embedder", "EmbeddingMismatchError",
    "EmptyStoreError", "Hit", "Hits", "InputError", "InvalidArgumentError", "NotFoundError",
    "SemclustError", "Store", "StoreError", "StoreLockedError", "__version__", "chunk_document",
    "chunk_text", "clean_text", "default_backend", "get_embedder", "read",
]


def test_public_api_is_unchanged() -> None:
    assert sorted(semclust.__all__) == sorted(PUBLIC_API)


def test_each_subpackage_exports_what_it_lists() -> None:
    import importlib

    for name in ("ingest", "embeddings", "vectors", "search", "store", "themes"):
        module = importlib.import_module(f"semclust.{name}")
        assert module.__all__, name
        for member in module.__all__:
            assert hasattr(module, member), f"semclust.{name}.{member}"
