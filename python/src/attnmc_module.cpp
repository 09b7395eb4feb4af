// attnmc._attnmc: the Python bindings (nanobind), a thin layer over the C++
// entry points the command line uses. A command call converts its Python
// arguments into the CLI's configuration source (a TOML text or file, then
// `section.key=value` overrides, then the named options, in the CLI's
// order), then runs host/cli/execute.hpp's execute_command on a worker
// thread with the GIL released. The calling thread waits, taking the GIL
// only to hand progress to the Python callback and to check for signals
// (PyErr_CheckSignals runs signal handlers on the main thread only, and
// the engine reports progress from its statistics thread). A Python
// exception there (KeyboardInterrupt from Ctrl-C, or one the callback
// raised) sets the run's cancel flag: the run stops after its chunk in
// flight (attnmc/cancel.hpp), its staged output directory is removed, and
// the exception is raised. Thread counts are the run's own (run.threads),
// scoped by the engine's execution context: nothing process-wide is left.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>
#include <toml++/toml.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include "attnmc/cancel.hpp"
#include "attnmc/engine.hpp"
#include "attnmc/error.hpp"
#include "attnmc/version.hpp"
#include "host/cli/command.hpp"
#include "host/cli/common_options.hpp"
#include "host/cli/execute.hpp"
#include "host/cli/merge_command.hpp"
#include "host/cli/phase_command.hpp"
#include "host/cli/sweep_command.hpp"
#include "host/config.hpp"
#include "host/sweep/run_sweep.hpp"
#include "host/sweep/sweep_plan.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace attnmc::python {
namespace {

// ---- Python values as TOML ---------------------------------------------------

// NumPy scalars and arrays as plain Python values (float64 -> float, arrays -> lists).
nb::object plain(nb::handle v) {
  if (nb::hasattr(v, "dtype") && nb::hasattr(v, "tolist")) return v.attr("tolist")();
  return nb::borrow(v);
}

template <typename Sink>
void to_toml(nb::handle value, const std::string& key, Sink&& sink);

toml::table to_table(nb::handle dict, const std::string& prefix);

toml::array to_array(nb::handle seq, const std::string& key) {
  toml::array a;
  for (nb::handle item : seq) to_toml(item, key, [&](auto&& node) { a.push_back(node); });
  return a;
}

// Gives `sink` the TOML value of a Python bool, int, float, str, list,
// tuple or dict. An int above 2^63 - 1 (a seed) becomes a decimal string,
// as the CLI writes seeds.
template <typename Sink>
void to_toml(nb::handle raw, const std::string& key, Sink&& sink) {
  const nb::object v = plain(raw);
  if (nb::isinstance<nb::bool_>(v)) return sink(nb::cast<bool>(v));
  if (nb::isinstance<nb::int_>(v)) {
    const nb::object text = nb::str(v);
    try {
      return sink(std::int64_t(nb::cast<std::int64_t>(v)));
    } catch (const std::exception&) {
      return sink(std::string(nb::cast<std::string>(text)));
    }
  }
  if (nb::isinstance<nb::float_>(v)) return sink(nb::cast<double>(v));
  if (nb::isinstance<nb::str>(v)) return sink(nb::cast<std::string>(v));
  if (nb::isinstance<nb::dict>(v)) return sink(to_table(v, key));
  if (nb::isinstance<nb::list>(v) || nb::isinstance<nb::tuple>(v)) return sink(to_array(v, key));
  if (nb::hasattr(v, "__fspath__")) return sink(nb::cast<std::string>(nb::str(v)));
  throw InputError(key, "cannot be given as a " +
                            nb::cast<std::string>(nb::str(nb::handle(v.type()).attr("__name__"))) +
                            " (use a bool, int, float, str, list or dict)");
}

// A dict of sections; a dotted key ("model.width") is a path of tables.
toml::table to_table(nb::handle dict, const std::string& prefix) {
  toml::table t;
  for (auto [k, v] : nb::borrow<nb::dict>(dict)) {
    const std::string name = nb::cast<std::string>(nb::str(k));
    const std::string key = prefix.empty() ? name : prefix + "." + name;
    toml::table* at = &t;
    std::string leaf = name;
    for (std::size_t dot; (dot = leaf.find('.')) != std::string::npos;) {
      const std::string part = leaf.substr(0, dot);
      leaf = leaf.substr(dot + 1);
      if (!at->contains(part)) at->insert(part, toml::table{});
      at = at->get_as<toml::table>(part);
      if (at == nullptr) throw InputError(key, "'" + part + "' is both a value and a section");
    }
    to_toml(v, key, [&](auto&& node) { at->insert_or_assign(leaf, node); });
  }
  return t;
}

std::string override_text(const std::string& key, nb::handle value) {
  std::string text;
  to_toml(value, key, [&](auto&& node) {
    toml::table one;
    one.insert("v", node);
    text = key + "=" + toml_text(*one.get("v"));
  });
  return text;
}

// The CLI's options from the call's keyword arguments.
struct Call {
  std::string config_path;          // a TOML file, or
  std::optional<std::string> text;  // a TOML text (a dict), or neither: the built-in
  std::vector<std::string> set;     // section.key=value
  cli::CommonOptions named;         // seed, threads, device, members, range
};

Call make_call(nb::handle config, nb::handle set, nb::handle seed, nb::handle threads,
               nb::handle device, nb::handle members, nb::handle range) {
  Call c;
  if (nb::isinstance<nb::dict>(config)) {
    std::ostringstream o;
    o << to_table(config, "");
    c.text = o.str();
  } else if (!config.is_none()) {
    c.config_path = nb::cast<std::string>(nb::str(config));
  }
  if (nb::isinstance<nb::dict>(set)) {
    for (auto [k, v] : nb::borrow<nb::dict>(set))
      c.set.push_back(override_text(nb::cast<std::string>(nb::str(k)), v));
  } else if (!set.is_none()) {
    for (nb::handle s : set) c.set.push_back(nb::cast<std::string>(s));
  }
  const auto text = [](nb::handle v) {
    return v.is_none() ? std::string() : nb::cast<std::string>(nb::str(plain(v)));
  };
  c.named.config = c.config_path;
  c.named.set = c.set;
  c.named.seed = text(seed);
  c.named.threads = text(threads);
  c.named.device = text(device);
  c.named.members = text(members);
  if (!range.is_none()) {
    const nb::tuple r = nb::tuple(range);
    if (r.size() != 2) throw InputError("range", "expected (begin, end)");
    c.named.range = text(r[0]) + ":" + text(r[1]);
  }
  return c;
}

// The CLI's precedence: the file (or text, or built-in), --set, the named options.
ConfigSource source_of(const Call& c, const std::string& builtin) {
  ConfigSource s = c.named.source(builtin.c_str());
  if (c.text) s.text = *c.text;
  return s;
}

// ---- Running with the GIL released -----------------------------------------

class Monitor {
 public:
  // Called by the engine (any thread): records progress, stops when cancelled.
  void report(std::uint64_t done, std::uint64_t total) {
    if (cancel.load()) throw Cancelled{};
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = done;
      total_ = total;
      fresh_ = true;
    }
    cv_.notify_all();
  }

  // Runs `work` on a worker thread; see the file comment.
  template <typename Work>
  void run(nb::handle progress, Work&& work) {
    std::exception_ptr failure;
    std::thread worker([&] {
      try {
        work();
      } catch (...) {
        failure = std::current_exception();
      }
      {
        std::lock_guard<std::mutex> lock(mu_);
        finished_ = true;
      }
      cv_.notify_all();
    });
    std::optional<nb::python_error> raised;
    for (bool finished = false; !finished;) {
      bool fresh;
      std::uint64_t done, total;
      {
        nb::gil_scoped_release release;
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait_for(lock, std::chrono::milliseconds(50), [&] { return finished_ || fresh_; });
        finished = finished_;
        fresh = fresh_;
        fresh_ = false;
        done = done_;
        total = total_;
      }
      if (raised) continue;
      try {
        if (fresh && !progress.is_none()) progress(done, total);
        if (PyErr_CheckSignals() != 0) throw nb::python_error();
      } catch (nb::python_error& e) {
        raised.emplace(std::move(e));
        cancel.store(true);
      }
    }
    {
      nb::gil_scoped_release release;
      worker.join();
    }
    if (raised) throw std::move(*raised);
    if (failure) std::rethrow_exception(failure);
  }

  std::atomic<bool> cancel{false};

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool finished_ = false, fresh_ = false;
  std::uint64_t done_ = 0, total_ = 0;
};

const cli::Command& command_named(const std::string& name) {
  const cli::Command* c = cli::find_command(name);
  if (c == nullptr) {
    std::string names;
    for (const cli::Command& k : cli::commands()) names += (names.empty() ? "" : ", ") + k.name;
    throw InputError("command", "unknown command '" + name + "' (commands: " + names + ")");
  }
  return *c;
}

// ---- The functions ------------------------------------------------------------

nb::dict execute(const std::string& name, nb::handle config, nb::handle set, nb::handle seed,
                 nb::handle threads, nb::handle device, nb::handle members, nb::handle range,
                 const std::string& output, bool force, const std::vector<std::string>& switches,
                 bool quiet, nb::handle progress) {
  const cli::Command& command = command_named(name);
  const Call call = make_call(config, set, seed, threads, device, members, range);
  if (!command.pieces && !call.named.range.empty())
    throw InputError("range", "'" + name + "' runs no pieces (it has no --range)");
  const ConfigSource source = source_of(call, command.builtin);
  Monitor monitor;
  cli::Execution e;
  e.output = output;
  e.force = force;
  e.context.quiet = quiet;
  for (const auto& [sw, help] : command.switches) e.context.flags[sw] = false;
  for (const std::string& sw : switches) {
    if (!e.context.flags.count(sw)) throw InputError(sw, "'" + name + "' has no switch " + sw);
    e.context.flags[sw] = true;
  }
  e.context.progress = [&monitor](std::uint64_t d, std::uint64_t t) { monitor.report(d, t); };
  e.cancel = &monitor.cancel;
  cli::CommandResult r;
  monitor.run(progress, [&] { r = cli::execute_command(command, source, e); });
  nb::dict out;
  out["table"] = r.table;
  out["scalars"] = r.scalars.dump();
  out["failure"] = r.failure;
  out["members"] = r.members;
  return out;
}

nb::dict outcome_dict(const sweep::SweepOutcome& outcome) {
  nb::dict out;
  out["cells"] = outcome.cells;
  out["computed"] = outcome.computed;
  out["reused"] = outcome.reused;
  out["failed"] = outcome.failed;
  out["recomputed_corrupt"] = outcome.recomputed_corrupt;
  out["seconds"] = outcome.seconds;
  return out;
}

nb::dict sweep(const std::string& plan_file, const std::string& store, nb::handle set,
               nb::handle seed, nb::handle threads, nb::handle device, nb::handle members,
               bool force, bool quiet, nb::handle progress) {
  Call call = make_call(nb::none(), set, seed, threads, device, members, nb::none());
  call.named.config = plan_file;
  call.named.output = store;
  call.named.force = force;
  call.named.quiet = quiet;
  Monitor monitor;
  sweep::SweepOutcome outcome;
  monitor.run(progress, [&] {
    sweep::Plan plan = sweep::read_plan(plan_file);
    sweep::SweepOptions opt = cli::apply_command_line(call.named, plan);
    opt.progress = false;
    opt.progress_hook = [&monitor](std::uint64_t d, std::uint64_t t) { monitor.report(d, t); };
    outcome = sweep::run_sweep(plan, store, opt);
  });
  return outcome_dict(outcome);
}

// `attnmc phase`: the phase sweep of the sphere model into `store`.
nb::dict phase(const std::string& store, nb::handle config, nb::handle set, nb::handle seed,
               nb::handle threads, nb::handle device, nb::handle members, const std::string& tokens,
               const std::string& dims, const std::string& betas, bool flow, bool check_step,
               bool force, bool quiet, nb::handle progress) {
  const Call call = make_call(config, set, seed, threads, device, members, nb::none());
  if (call.text) throw InputError("config", "phase takes a TOML file or None, not a dict");
  cli::PhaseRequest req;
  req.common = call.named;
  req.common.output = store;
  req.common.force = force;
  req.common.quiet = quiet;
  req.tokens = tokens;
  req.dims = dims;
  req.betas = betas;
  req.no_flow = !flow;
  req.check_step = check_step;
  Monitor monitor;
  req.progress_hook = [&monitor](std::uint64_t d, std::uint64_t t) { monitor.report(d, t); };
  sweep::SweepOutcome outcome;
  monitor.run(progress, [&] { outcome = cli::run_phase(req); });
  return outcome_dict(outcome);
}

std::string merge(const std::vector<std::string>& pieces, const std::string& output, bool force) {
  std::string text;
  Monitor monitor;
  monitor.run(nb::none(), [&] { text = cli::merge_pieces(pieces, output, force); });
  return text;
}

// Gram matrices of members [first, first + count) of a `run` configuration
// (default: its member range): count x records x m x m float32, and the
// recorded layers. Memory grows with count: for small runs.
nb::tuple grams(nb::handle config, nb::handle set, nb::handle seed, nb::handle threads,
                nb::handle device, nb::handle members, nb::handle first_arg, nb::handle count_arg) {
  const Call call = make_call(config, set, seed, threads, device, members, nb::none());
  const ConfigSource source = source_of(call, command_named("run").builtin);
  const std::optional<std::uint64_t> first_given =
      first_arg.is_none() ? std::nullopt : std::optional(nb::cast<std::uint64_t>(first_arg));
  const std::optional<std::uint64_t> count_given =
      count_arg.is_none() ? std::nullopt : std::optional(nb::cast<std::uint64_t>(count_arg));
  auto data = std::make_unique<std::vector<float>>();
  RunSpec spec;
  std::uint64_t count = 0;
  Monitor monitor;
  monitor.run(nb::none(), [&] {
    spec = load_resolved_run_spec(source);
    const std::uint64_t first = first_given.value_or(spec.member_begin);
    if (first > spec.members)
      throw InputError("first", "beyond ensemble.members = " + std::to_string(spec.members));
    count = count_given.value_or(first < spec.end_member() ? spec.end_member() - first : 0);
    if (count > spec.members - first)
      throw InputError("count",
                       "members [" + std::to_string(first) + ", " + std::to_string(first + count) +
                           ") are beyond ensemble.members = " + std::to_string(spec.members));
    *data = simulate_grams(spec, first, count);
  });
  const std::size_t m = std::size_t(spec.model.tokens), R = spec.record_layers.size();
  float* values = data->data();
  nb::capsule owner(data.release(),
                    [](void* p) noexcept { delete static_cast<std::vector<float>*>(p); });
  nb::ndarray<nb::numpy, float, nb::ndim<4>> array(values, {std::size_t(count), R, m, m}, owner);
  return nb::make_tuple(spec.record_layers, array);
}

nb::list commands() {
  nb::list out;
  for (const cli::Command& c : cli::commands()) {
    nb::dict d;
    d["name"] = c.name;
    d["help"] = c.help;
    d["builtin"] = c.builtin;
    d["default_output"] = c.default_output;
    d["pieces"] = c.pieces;
    nb::list switches;
    for (const auto& [name, help] : c.switches) switches.append(nb::make_tuple(name, help));
    d["switches"] = switches;
    nb::list aliases;
    for (const cli::FlagAlias& a : c.aliases)
      aliases.append(nb::make_tuple(a.names, a.key, a.help));
    d["aliases"] = aliases;
    out.append(d);
  }
  return out;
}

bool cuda_available_py() {
  std::string why;
  return cuda_available(&why);
}

// C++ errors as the package's exception classes (python/attnmc/errors.py).
void translate(const std::exception_ptr& p, void*) {
  const auto raise = [](nb::object instance) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(instance.ptr())), instance.ptr());
  };
  try {
    std::rethrow_exception(p);
  } catch (const nb::python_error&) {
    throw;  // a Python exception (KeyboardInterrupt...): nanobind restores it
  } catch (const nb::builtin_exception&) {
    throw;
  } catch (const nb::cast_error&) {
    throw;
  } catch (const InputError& e) {
    raise(nb::module_::import_("attnmc.errors").attr("ConfigError")(e.what(), e.parameter()));
  } catch (const Cancelled&) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
  } catch (const std::exception& e) {
    raise(nb::module_::import_("attnmc.errors").attr("Error")(e.what()));
  }
}

}  // namespace
}  // namespace attnmc::python

NB_MODULE(_attnmc, m) {
  using namespace attnmc::python;
  m.doc() = "attnmc bindings (use the attnmc package, python/attnmc/__init__.py)";
  nb::register_exception_translator(translate);
  m.attr("version") = attnmc::kVersion;
  m.def("execute", &execute, "command"_a, "config"_a.none(), "set"_a.none(), "seed"_a.none(),
        "threads"_a.none(), "device"_a.none(), "members"_a.none(), "range"_a.none(), "output"_a,
        "force"_a, "switches"_a, "quiet"_a, "progress"_a.none());
  m.def("sweep", &sweep, "plan"_a, "store"_a, "set"_a.none(), "seed"_a.none(), "threads"_a.none(),
        "device"_a.none(), "members"_a.none(), "force"_a, "quiet"_a, "progress"_a.none());
  m.def("phase", &phase, "store"_a, "config"_a.none(), "set"_a.none(), "seed"_a.none(),
        "threads"_a.none(), "device"_a.none(), "members"_a.none(), "tokens"_a, "dims"_a, "betas"_a,
        "flow"_a, "check_step"_a, "force"_a, "quiet"_a, "progress"_a.none());
  m.def("merge", &merge, "pieces"_a, "output"_a, "force"_a);
  m.def("grams", &grams, "config"_a.none(), "set"_a.none(), "seed"_a.none(), "threads"_a.none(),
        "device"_a.none(), "members"_a.none(), "first"_a.none(), "count"_a.none());
  m.def("commands", &commands);
  m.def("presets", &attnmc::model_preset_names);
  m.def("cuda_available", &cuda_available_py);
}
