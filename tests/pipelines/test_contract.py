from common.contract import LOAD_ORDER, REQUIRED_TABLES, TABLES


def test_every_table_has_a_load_position_and_required_tables_match_design():
    assert set(LOAD_ORDER) == set(TABLES)
    assert set(REQUIRED_TABLES) == {"suppliers", "products", "groups", "memberships", "orders"}


def test_foreign_keys_point_at_known_tables_loaded_earlier():
    for name, table in TABLES.items():
        for fk in table.foreign_keys:
            assert fk.table in TABLES
            assert fk.target in TABLES[fk.table].column_names
            assert LOAD_ORDER.index(fk.table) <= LOAD_ORDER.index(name)


def test_group_name_is_an_optional_column_of_groups_last_in_the_contract():
    groups = TABLES["groups"]
    name = groups.column("name")
    assert name.kind == "str" and not name.required
    assert groups.column_names[-1] == "name"  # where an older warehouse gains it (create_tables)
    assert "name" not in groups.required_columns


def test_groups_ingest_with_their_names_and_without_the_column(tmp_path, tiny_tables, write_raw):
    from common.home import Home
    from pipelines.ingest import run_ingest
    from pipelines.warehouse import MODEL_DROP, group_names, load_frames
    from tests.pipelines.conftest import TINY_END

    named = Home(tmp_path / "named")
    run_ingest(write_raw(tmp_path / "raw-named", tiny_tables, fmt="csv"), named, run_date=TINY_END)
    assert dict(group_names(named).iter_rows()) == {"G1": "杭州西湖宝妈团", "G2": "滨江特价群", "G3": None}
    assert "name" not in load_frames(named, ["groups"], drop=MODEL_DROP)["groups"].columns  # people only

    tiny_tables["groups"] = tiny_tables["groups"].drop("name")  # data that never had the column
    plain = Home(tmp_path / "plain")
    report = run_ingest(write_raw(tmp_path / "raw-plain", tiny_tables), plain, run_date=TINY_END).to_json()
    assert report["tables"]["groups"] == {"read": 3, "loaded": 3, "duplicates": 0, "quarantined": 0}
    assert group_names(plain).get_column("name").null_count() == 3


def test_a_warehouse_from_before_the_name_column_gains_it_and_loads_names(tmp_path, tiny_tables, write_raw):
    from common.home import Home
    from pipelines.ingest import run_ingest
    from pipelines.warehouse import connect, group_names
    from tests.pipelines.conftest import TINY_END

    home = Home(tmp_path / "home")
    old = tiny_tables["groups"].drop("name")
    con = connect(home)
    try:  # the groups table as the contract had it before `name`
        con.execute("CREATE TABLE groups (group_id VARCHAR, shopkeeper_id VARCHAR, city VARCHAR, "
                    "warehouse_id VARCHAR, kind VARCHAR, created_on DATE)")
    finally:
        con.close()
    tables = {**tiny_tables, "groups": tiny_tables["groups"]}
    report = run_ingest(write_raw(tmp_path / "raw", tables), home, run_date=TINY_END).to_json()
    assert report["tables"]["groups"]["loaded"] == old.height
    assert dict(group_names(home).iter_rows())["G1"] == "杭州西湖宝妈团"
