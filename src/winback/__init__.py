"""winback: find the customers who stopped buying and tell a sales team whom to call first."""

__version__ = "0.1.0"
