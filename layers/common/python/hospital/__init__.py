"""The hospital backend's shared layer (lands in /opt/python on Lambda).

Modules stay cheap to import: heavy libraries (SQLAlchemy, boto3, pydantic models,
cryptography) are imported where they are first needed, to keep cold starts short.
"""
