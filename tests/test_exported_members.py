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
