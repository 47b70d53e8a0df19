"""`python -m coral_mcp` runs the `coral` command."""

from coral_mcp.cli.main import coral

if __name__ == "__main__":
    coral()
