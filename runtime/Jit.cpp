#include "runtime/Jit.h"

#include <nlohmann/json.hpp>

#include "compiler/Error.h"
#include "compiler/passes/Pipeline.h"

namespace xent::runtime {
namespace {

std::string to_payload(const codegen::CompiledKernel& k) {
  return nlohmann::json{{"name", k.name},
                        {"threads", k.threads},
                        {"cluster", k.cluster},
                        {"shared_bytes", k.shared_bytes},
                        {"dynamic_shared_bytes", k.dynamic_shared_bytes},
                        {"ptx", k.ptx}}
      .dump();
}

// Null when the payload is not what to_payload writes.
std::shared_ptr<codegen::CompiledKernel> from_payload(const std::string& payload) {
  nlohmann::json json = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  try {
    auto k = std::make_shared<codegen::CompiledKernel>();
    k->name = json.at("name").get<std::string>();
    k->threads = json.at("threads").get<int>();
    k->cluster = json.at("cluster").get<int>();
    k->shared_bytes = json.at("shared_bytes").get<int>();
    k->dynamic_shared_bytes = json.at("dynamic_shared_bytes").get<int>();
    k->ptx = json.at("ptx").get<std::string>();
    return k;
  } catch (const nlohmann::json::exception&) {
    return nullptr;
  }
}

// The fields of the full key that are not constant within a process: cheaper than its digest on every hit.
std::string table_id(const CrossEntropySpec& spec, CrossEntropyKernel kernel, std::string_view sm) {
  return cat(kernel_name(kernel), " ", sm, " ", spec.canonical());
}

}  // namespace

PtxJit::PtxJit(std::shared_ptr<DiskCache> disk) : disk_(std::move(disk)) {}

PtxJit& PtxJit::instance() {
  static PtxJit jit(std::make_shared<DiskCache>(DiskCache::default_directory()));
  return jit;
}

bool PtxJit::holds(const CrossEntropySpec& spec, CrossEntropyKernel kernel, std::string_view sm) {
  {
    std::lock_guard lock(mutex_);
    if (table_.contains(table_id(spec, kernel, sm))) return true;
  }
  return disk_->contains(kernel_key(Artifact::Ptx, spec, kernel, sm).build(), Artifact::Ptx);
}

std::shared_ptr<const codegen::CompiledKernel> PtxJit::get(const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                                           std::string_view sm) {
  spec.validate();
  std::string id = table_id(spec, kernel, sm);
  std::promise<Result> promise;
  std::shared_future<Result> result;
  bool first = false;
  {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = table_.try_emplace(id);
    if (inserted) it->second = promise.get_future().share();
    result = it->second;
    first = inserted;
  }
  if (!first) {
    ++memory_hits_;
    return result.get();
  }
  try {
    promise.set_value(load_or_compile(kernel_key(Artifact::Ptx, spec, kernel, sm).build(), spec, kernel, sm));
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      table_.erase(id);
    }
    promise.set_exception(std::current_exception());
  }
  return result.get();
}

PtxJit::Result PtxJit::load_or_compile(const CacheKey& key, const CrossEntropySpec& spec, CrossEntropyKernel kernel,
                                       std::string_view sm) {
  if (std::optional<std::string> payload = disk_->load(key, Artifact::Ptx))
    if (Result cached = from_payload(*payload)) {
      ++disk_hits_;
      return cached;
    }
  std::unique_ptr<ir::Kernel> built = build_kernel(kernel, spec);
  passes::run_pipeline(*built, constexpr_bindings(spec));
  auto compiled = std::make_shared<codegen::CompiledKernel>(codegen::compile_to_ptx(*built, {std::string(sm)}));
  ++compiles_;
  disk_->store(key, Artifact::Ptx, to_payload(*compiled));
  return compiled;
}

JitCounters PtxJit::counters() const { return {compiles_, disk_hits_, memory_hits_}; }

}  // namespace xent::runtime
