"""Adapters that put overcoat scorers into other tools' hands (:mod:`overcoat.integrations.trl`)."""
