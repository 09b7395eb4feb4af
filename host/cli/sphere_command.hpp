// `attnmc sphere` (one ensemble of the stochastic Transformer on the sphere)
// and `attnmc phase` (the (beta, d) phase diagram table).
#pragma once

namespace CLI {
class App;
}

namespace attnmc::cli {

// Registers the `sphere` and `phase` subcommands on app.
void add_sphere_commands(CLI::App& app);

}  // namespace attnmc::cli
