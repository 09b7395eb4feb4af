// Finite networks vs the SDE (filled in by the next commit).
