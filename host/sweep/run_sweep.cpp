// The sweep driver: validate every cell, lock the store, then run the cells
// that are not already there, one atomic cell directory at a time.
#include "host/sweep/run_sweep.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>

#include "attnmc/error.hpp"
#include "host/cli/command.hpp"
#include "host/mpi/agree.hpp"
#include "host/mpi/split_ensemble.hpp"
#include "host/mpi/split_sweep.hpp"
#include "host/mpi/world.hpp"
#include "host/output.hpp"
#include "host/sweep/store.hpp"

namespace attnmc::sweep {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string cell_name(std::size_t i) { return cli::format("%04zu", i); }

std::string describe(const Cell& c) {
  std::string s;
  for (const auto& [k, v] : c.params) s += (s.empty() ? "" : ", ") + k + "=" + v;
  return "cell " + std::to_string(c.index) + (s.empty() ? "" : " (" + s + ")");
}

// Progress of the whole sweep: cells, members, rate of this session, ETA.
class SweepProgressLine {
 public:
  SweepProgressLine(bool enabled, std::size_t cells, std::uint64_t members)
      : enabled_(enabled), tty_(::isatty(STDERR_FILENO)), cells_(cells), total_(members) {}
  void update(std::size_t cells_done, std::uint64_t members_done, std::uint64_t computed,
              bool force_line) {
    if (!enabled_) return;
    const auto now = Clock::now();
    const auto interval = tty_ ? std::chrono::milliseconds(250) : std::chrono::seconds(10);
    if (!force_line && now - last_ < interval) return;
    last_ = now;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? double(computed) / s : 0.0;
    std::string eta = "--";
    if (members_done >= total_)
      eta = "done";
    else if (rate > 0)
      eta = cli::format("%.0f s", double(total_ - members_done) / rate);
    std::fprintf(stderr, "%ssweep: %zu / %zu cells, %llu / %llu members, %.3g members/s, ETA %s%s",
                 tty_ ? "\r" : "", cells_done, cells_, (unsigned long long)members_done,
                 (unsigned long long)total_, rate, eta.c_str(),
                 tty_ && cells_done < cells_ ? "" : "\n");
    std::fflush(stderr);
  }

 private:
  bool enabled_, tty_;
  std::size_t cells_;
  std::uint64_t total_;
  Clock::time_point start_ = Clock::now(), last_{};
};

nlohmann::json read_json(const fs::path& p) {
  std::ifstream f(p);
  return nlohmann::json::parse(f);
}

// Runs cell c into `stage`: its record (cell.json without "files"). A
// numerical or runtime failure is the cell's result; bad input is a bug
// (every cell was validated before any work).
nlohmann::json compute_cell(const cli::Command& cmd, const Plan& plan, const Cell& c,
                            StagedDirectory& stage, const Progress& progress,
                            const mpi::World* split_over) {
  cli::RunContext cx;
  cx.world = split_over;  // its ensembles split over these processes (null: this one)
  cx.timing = false;
  cx.quiet = true;
  cx.flags = plan.flags;
  cx.flags["no-plot"] = true;
  cx.progress = progress;
  nlohmann::json rec;
  rec["cell"] = c.index;
  rec["params"] = c.params;
  rec["seed"] = c.seed;
  try {
    const cli::CommandResult r = cmd.run(c.source, stage, cx);
    rec["status"] = r.failure.empty() ? "ok" : "failed";
    rec["reason"] = r.failure;
    rec["scalars"] = r.scalars;
  } catch (const InputError&) {
    throw;  // validated above: a bug, not a cell result
  } catch (const std::exception& e) {
    rec["status"] = "failed";
    rec["reason"] = e.what();
    rec["scalars"] = nlohmann::json::object();
  }
  return rec;
}

}  // namespace

SweepOutcome run_sweep(Plan plan, const std::string& store, const SweepOptions& opt) {
  const auto t0 = Clock::now();
  // A job of several processes (host/mpi/): every rank checks the input,
  // rank 0 alone opens and writes the store, the cells go round a queue.
  const mpi::World* world = opt.world && opt.world->size() > 1 ? opt.world : nullptr;
  auto agreed = [world](const std::function<void()>& step) {
    if (world)
      mpi::agree(*world, step);
    else
      step();
  };
  auto agreed_on_root = [world](const std::function<void()>& step) {
    if (world)
      mpi::agree_on_root(*world, step);
    else
      step();
  };
  // Ranks that share a node's cores split them when no --threads is given.
  std::vector<std::string> execution = opt.execution_overrides;
  if (world && execution.empty())
    execution.push_back("run.threads=" + std::to_string(mpi::threads_per_rank(*world)));
  const cli::Command* cmd = nullptr;
  std::vector<std::uint64_t> members;
  std::uint64_t total_members = 0;
  nlohmann::json identity;
  agreed([&] {
    cmd = cli::find_command(plan.command);
    if (!cmd) {
      std::string names;
      for (const cli::Command& c : cli::commands()) names += (names.empty() ? "" : ", ") + c.name;
      throw InputError("sweep.command", "unknown command '" + plan.command + "' (" + names + ")");
    }
    for (const Axis& a : plan.axes)
      if (a.key == "ensemble.seed" && plan.seed_rule != SeedRule::fixed)
        throw InputError("sweep.axis", "an axis over ensemble.seed needs seed = \"fixed\"");
    for (const auto& [name, on] : plan.flags) {
      bool known = false;
      for (const auto& [sw, unused] : cmd->switches) known = known || sw == name;
      if (on && !known)
        throw InputError("sweep.check_step", "command '" + plan.command + "' has no --" + name);
    }
    expand(plan, cmd->builtin);
    identity = plan.identity();

    // Every cell's configuration first: bad input stops the sweep before any work.
    members.assign(plan.cells.size(), 0);
    for (Cell& c : plan.cells) {
      for (const std::string& o : execution) c.source.overrides.push_back(o);
      try {
        members[c.index] = cmd->validate(c.source);
      } catch (const InputError& e) {
        const std::string what = e.what();
        throw InputError(
            e.parameter(),
            describe(c) + ": " + what.substr(std::min(what.size(), e.parameter().size() + 2)));
      }
      total_members += members[c.index];
    }
  });

  std::error_code ec;
  const fs::path root = fs::absolute(store).lexically_normal();
  auto cell_dir = [&](std::size_t i) { return (root / "cells" / cell_name(i)).string(); };
  auto compute = [&](std::size_t i, StagedDirectory& stage, const Progress& progress,
                     const mpi::World* split_over = nullptr) {
    return compute_cell(*cmd, plan, plan.cells[i], stage, progress, split_over);
  };
  // Fewer cells to do than ranks: a queue would leave ranks idle, so each
  // cell runs split over every rank instead, as `attnmc run` under mpirun
  // (the same bytes).
  auto collective = [&](const std::vector<std::size_t>& todo) {
    return world && todo.size() < std::size_t(world->size());
  };
  if (world && !world->root()) {
    agreed_on_root([] {});  // rank 0 opens the store
    std::vector<std::size_t> todo;
    for (const auto& i : nlohmann::json::parse(world->broadcast({}))) todo.push_back(i);
    if (collective(todo)) {
      for (std::size_t i : todo) {
        StagedDirectory scratch(mpi::scratch_output_dir(*world, "cell"), false);
        compute(i, scratch, {}, world);
      }
    } else {
      mpi::run_cells_split(
          *world, todo,
          {[&](std::size_t i, StagedDirectory& s) { return compute(i, s, {}); }, cell_dir, {}});
    }
    return {};
  }

  std::optional<StoreLock> lock;
  SweepOutcome out;
  out.cells = plan.cells.size();
  std::vector<nlohmann::json> records(plan.cells.size());  // null: not finished
  std::vector<std::size_t> todo;
  std::uint64_t done_members = 0, computed_members = 0;
  agreed_on_root([&] {
    // The store: absent, empty, or holding this sweep (a different one only with --force).
    if (fs::exists(root, ec) && !fs::is_directory(root, ec))
      throw InputError("output", "'" + store + "' exists and is not a directory");
    // A store being created holds only .lock and cells/ until sweep.json is written.
    if (fs::exists(root, ec) && !fs::exists(root / "sweep.json", ec))
      for (const fs::directory_entry& e : fs::directory_iterator(root, ec)) {
        const std::string name = e.path().filename().string();
        if (name != ".lock" && name != "cells")
          throw InputError("output", "'" + store + "' is not empty and holds no sweep (" + name +
                                         " but no sweep.json)");
      }
    fs::create_directories(root / "cells", ec);
    if (ec) throw InputError("output", "cannot create '" + store + "': " + ec.message());
    lock.emplace(root.string());
    if (fs::exists(root / "sweep.json", ec)) {
      nlohmann::json old;
      try {
        old = read_json(root / "sweep.json");
      } catch (const std::exception&) {
        old = nullptr;
      }
      if (old != identity) {
        if (!opt.force)
          throw InputError("output", "'" + store +
                                         "' holds a different sweep (its sweep.json differs); "
                                         "use another directory, or --force to replace it");
        fs::remove_all(root / "cells", ec);
        fs::remove(root / "cells.csv", ec);
        fs::create_directories(root / "cells", ec);
      }
    }
    write_file_atomic((root / "sweep.json").string(), identity.dump(2) + "\n");
    // Temporary table files of interrupted runs (the lock says none is running).
    for (const fs::directory_entry& e : fs::directory_iterator(root, ec))
      if (e.path().filename().string().rfind(".cells.csv.tmp-", 0) == 0) fs::remove(e.path(), ec);

    // Finished cells (checked against their checksums) stay; the rest is to do.
    for (const Cell& c : plan.cells) {
      const fs::path dir = cell_dir(c.index);
      if (fs::exists(dir, ec)) {
        const std::string bad = verify_cell(dir.string());
        if (bad.empty()) {
          records[c.index] = read_json(dir / "cell.json");
          ++out.reused;
          if (records[c.index].value("status", "") == "failed") ++out.failed;
          done_members += members[c.index];
          continue;
        }
        if (!opt.quiet)
          std::fprintf(stderr, "attnmc: note: %s: %s; recomputing it\n", describe(c).c_str(),
                       bad.c_str());
        fs::remove_all(dir, ec);
        ++out.recomputed_corrupt;
      }
      todo.push_back(c.index);
    }
  });

  SweepProgressLine line(opt.progress, plan.cells.size(), total_members);
  std::size_t finished = out.reused;
  line.update(finished, done_members, computed_members, false);
  if (opt.progress_hook) opt.progress_hook(done_members, total_members);
  auto finished_records = [&] {
    std::vector<nlohmann::json> r;
    for (const nlohmann::json& j : records)
      if (!j.is_null()) r.push_back(j);
    return r;
  };
  // Manifest, cell.json, rename into place; then the table (one cell at a time).
  auto commit = [&](std::size_t i, nlohmann::json rec, StagedDirectory& stage) {
    rec["files"] = file_manifest(stage.path());
    stage.write_text("cell.json", rec.dump(2) + "\n");
    stage.commit();
    if (rec["status"] == "failed") {
      ++out.failed;
      if (!opt.quiet)
        std::fprintf(stderr, "attnmc: warning: %s failed: %s\n", describe(plan.cells[i]).c_str(),
                     rec["reason"].get<std::string>().c_str());
    }
    records[i] = std::move(rec);
    ++out.computed;
    ++finished;
    done_members += members[i];
    computed_members += members[i];
    write_file_atomic((root / "cells.csv").string(), cells_csv(finished_records()));
    line.update(finished, done_members, computed_members, true);
    if (opt.progress_hook) opt.progress_hook(done_members, total_members);
    if (opt.after_cell) opt.after_cell(i);
  };
  if (world) world->broadcast(nlohmann::json(todo).dump());
  if (collective(todo)) {
    for (std::size_t i : todo) {
      StagedDirectory stage(cell_dir(i), false);
      commit(i, compute(i, stage, {}, world), stage);
    }
  } else if (world) {
    mpi::run_cells_split(
        *world, todo,
        {[&](std::size_t i, StagedDirectory& s) { return compute(i, s, {}); }, cell_dir, commit});
  } else {
    for (std::size_t i : todo) {
      StagedDirectory stage(cell_dir(i), false);
      const std::uint64_t before = done_members, computed_before = computed_members;
      nlohmann::json rec =
          compute(i, stage, [&, before, computed_before](std::uint64_t d, std::uint64_t) {
            line.update(finished, before + d, computed_before + d, false);
            if (opt.progress_hook) opt.progress_hook(before + d, total_members);
          });
      commit(i, std::move(rec), stage);
    }
  }
  out.cell_records = finished_records();
  write_file_atomic((root / "cells.csv").string(), cells_csv(out.cell_records));
  out.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return out;
}

}  // namespace attnmc::sweep
