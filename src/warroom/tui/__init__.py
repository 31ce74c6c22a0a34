"""The war-room TUI (Textual)."""
