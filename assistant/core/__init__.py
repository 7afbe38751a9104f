"""The pure core: rules over plain records, no I/O, no clock, no global state."""
