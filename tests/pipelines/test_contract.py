from pipelines.contract import LOAD_ORDER, REQUIRED_TABLES, TABLES


def test_every_table_has_a_load_position_and_required_tables_match_design():
    assert set(LOAD_ORDER) == set(TABLES)
    assert set(REQUIRED_TABLES) == {"suppliers", "products", "groups", "memberships", "orders"}


def test_foreign_keys_point_at_known_tables_loaded_earlier():
    for name, table in TABLES.items():
        for fk in table.foreign_keys:
            assert fk.table in TABLES
            assert fk.target in TABLES[fk.table].column_names
            assert LOAD_ORDER.index(fk.table) <= LOAD_ORDER.index(name)
