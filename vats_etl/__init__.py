"""vats-etl: call-history ETL and analytics for cloud virtual PBX (ВАТС) CRM API."""

__version__ = "0.1.0"
