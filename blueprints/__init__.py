"""HTTP faces of the domain: parse, call one service, map errors, render."""
