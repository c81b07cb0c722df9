"""Operations logic without I/O: configuration diffs and array members' sync status."""
