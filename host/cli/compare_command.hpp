// `attnmc sde` (one ensemble of the covariance SDE of shaped Transformers)
// and `attnmc compare` (finite networks at several widths vs the SDE).
#pragma once

namespace CLI {
class App;
}

namespace attnmc {

// Registers the `sde` and `compare` subcommands on app.
void add_compare_command(CLI::App& app);

}  // namespace attnmc
