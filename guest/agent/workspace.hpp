#pragma once
// `banger-agent workspace-unpack DEST STATE` and `workspace-state DEST`: the
// guest half of workspaces, run as commands through the agent's own exec
// (argv[0] "@banger-agent" means this very binary), so that the tar stream
// travels as the command's stdin with exec's ordering, flow control and
// exit status.
//
// workspace-unpack reads a tar stream on stdin into a fresh directory next to
// DEST, writes STATE (the host's JSON) to DEST/.git/banger-workspace.json,
// syncs, then swaps it in for DEST: a failed or interrupted unpack leaves the
// previous workspace as it was. While it reads, it prints "ack N" lines on
// stdout (N: bytes consumed) that the host paces its sending on, and "done
// FILES BYTES" at the end.
//
// workspace-state prints that JSON (nothing if no workspace was prepared).

namespace banger::agent {

/// Where the state of a prepared workspace lives, relative to its root.
inline constexpr const char* workspace_marker = ".git/banger-workspace.json";

/// argv[1] is "workspace-unpack" or "workspace-state". Returns the exit code.
int workspace_main(int argc, char** argv);

} // namespace banger::agent
