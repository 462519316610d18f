"""Database URLs as people write them: `postgresql://user:pass@host/db` means the psycopg (3) driver that
requirements.txt installs (SQLAlchemy's bare postgresql:// would look for psycopg2), passwords never appear in a
message, and a missing driver is named with its install command."""
from __future__ import annotations

from errors import UserError

DRIVERS = {"postgresql": ("postgresql+psycopg", "psycopg", "pip install 'psycopg[binary]'"),
           "postgres": ("postgresql+psycopg", "psycopg", "pip install 'psycopg[binary]'"),
           "mysql": ("mysql", "MySQLdb", "pip install mysqlclient")}


class StoreError(UserError):
    """The database cannot be used: its driver is missing, or it cannot be reached. The URL is masked."""


def normalize(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if sep and scheme in DRIVERS:
        return f"{DRIVERS[scheme][0]}://{rest}"
    return url


def masked(url: str) -> str:
    """The URL without its password, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - not an SQLAlchemy URL: cut anything between ':' and '@' of the netloc
        scheme, sep, rest = url.partition("://")
        user, at, host = rest.partition("@")
        return f"{scheme}{sep}{user.split(':')[0]}:***@{host}" if at else url


def check_driver(url: str) -> None:
    """StoreError naming the package when the URL's database driver is not installed."""
    import importlib.util

    scheme = url.partition("://")[0].split("+")[0]
    driver = url.partition("://")[0].partition("+")[2]
    module = {"psycopg": "psycopg", "psycopg2": "psycopg2", "pymysql": "pymysql"}.get(driver)
    if module is None and scheme in DRIVERS:
        module = DRIVERS[scheme][1]
    if module and importlib.util.find_spec(module) is None:
        install = next((d[2] for d in DRIVERS.values() if d[1] == module), f"pip install {module}")
        raise StoreError(f"{masked(url)} needs the Python package {module!r}, which is not installed: {install}")
