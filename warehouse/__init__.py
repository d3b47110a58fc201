"""Dataset versions and models: a DuckDB catalog over immutable Parquet files.

Pull a version into your own training with `load("NAME@V")` (a Hugging Face `datasets.Dataset`),
`to_pandas(...)` or `to_arrow(...)`.
"""

from .catalog import Catalog, CatalogError, check_name, home_dir
from .pull import export, load, to_arrow, to_pandas
from .schema import COLUMNS, ROW_SCHEMA, to_table

__all__ = ["COLUMNS", "ROW_SCHEMA", "Catalog", "CatalogError", "check_name", "export", "home_dir", "load",
           "to_arrow", "to_pandas", "to_table"]
