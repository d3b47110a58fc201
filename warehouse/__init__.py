"""Dataset versions and models: a DuckDB catalog over immutable Parquet files."""

from .catalog import Catalog, CatalogError, check_name, home_dir
from .schema import COLUMNS, ROW_SCHEMA, to_table

__all__ = ["COLUMNS", "Catalog", "CatalogError", "ROW_SCHEMA", "check_name", "home_dir", "to_table"]
