#include "compiler/ir/Printer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>
#include <unordered_map>

namespace xent::ir {
namespace {

class Printer {
 public:
  explicit Printer(std::ostream& out) : out_(out) {}

  void kernel(const Kernel& k) {
    out_ << "kernel @" << k.name() << "(";
    for (size_t i = 0; i < k.num_params(); ++i) {
      Value* p = k.param(i);
      out_ << (i ? ", " : "") << define(p) << ": " << p->type().str();
      if (k.param_info(i).align) out_ << " {align = " << k.param_info(i).align << "}";
    }
    out_ << ")";
    if (!k.attributes().empty()) {
      out_ << " attributes {";
      const char* sep = "";
      for (const auto& [key, value] : k.attributes()) {
        out_ << sep << key << " = " << value;
        sep = ", ";
      }
      out_ << "}";
    }
    out_ << " {\n";
    block(k.body(), 1);
    out_ << "}\n";
  }

 private:
  std::string define(const Value* v) {
    std::string text;
    const std::string& hint = v->name();
    if (!hint.empty() && taken_.insert(hint).second)
      text = hint;
    else if (!hint.empty())
      text = hint + "_" + std::to_string(counter_);
    else
      text = std::to_string(counter_);
    taken_.insert(text);
    ++counter_;
    names_[v] = "%" + text;
    return names_[v];
  }

  const std::string& use(const Value* v) {
    static const std::string undefined = "%<undefined>";
    auto it = names_.find(v);
    return it == names_.end() ? undefined : it->second;
  }

  void indent(int depth) { out_ << std::string(2 * depth, ' '); }

  void operand_list(const std::vector<Value*>& values, size_t from = 0) {
    for (size_t i = from; i < values.size(); ++i) out_ << (i > from ? ", " : "") << use(values[i]);
  }

  void block(const Block& b, int depth) {
    for (const auto& op : b.ops()) operation(*op, depth);
  }

  void results(const Operation& op) {
    if (op.num_results() == 0) return;
    for (size_t i = 0; i < op.num_results(); ++i) out_ << (i ? ", " : "") << define(op.result(i));
    out_ << " = ";
  }

  void result_types(const Operation& op) {
    out_ << "(";
    for (size_t i = 0; i < op.num_results(); ++i) out_ << (i ? ", " : "") << op.result(i)->type().str();
    out_ << ")";
  }

  void operation(const Operation& op, int depth) {
    indent(depth);
    if (op.kind() == OpKind::For) return for_loop(op, depth);
    if (op.kind() == OpKind::If) return if_else(op, depth);
    results(op);
    const OpInfo& info = op.info();
    const Attributes& a = op.attributes();
    out_ << info.name;
    if (info.attributes & kPredicate) out_ << " " << to_string(a.predicate);
    if (info.attributes & kReduction) out_ << " " << to_string(a.reduction);
    if (info.attributes & kLiteral)
      out_ << " " << (op.result()->type().is_float() ? format_real(a.literal.real) : std::to_string(a.literal.integer));
    if (info.attributes & kSymbol) out_ << " \"" << a.symbol << "\"";
    if (info.attributes & kRange) out_ << " " << a.start << " to " << a.end;
    if (op.num_operands()) {
      out_ << " ";
      operand_list(op.operands());
    }
    if (info.attributes & kAxis) out_ << " axis " << a.axis;
    if ((info.attributes & kPending) && a.pending) out_ << " pending " << a.pending;
    if (op.num_results()) out_ << " : " << op.result()->type().str();
    out_ << "\n";
  }

  void for_loop(const Operation& op, int depth) {
    results(op);
    const Block& body = op.region(0);
    out_ << "for " << define(body.argument(0)) << " = " << use(op.operand(0)) << " to " << use(op.operand(1))
         << " step " << use(op.operand(2));
    if (op.num_operands() > 3) {
      out_ << " iter_args(";
      for (size_t i = 3; i < op.num_operands(); ++i)
        out_ << (i > 3 ? ", " : "") << define(body.argument(i - 2)) << " = " << use(op.operand(i));
      out_ << ") -> ";
      result_types(op);
    }
    out_ << " {\n";
    block(body, depth + 1);
    indent(depth);
    out_ << "}\n";
  }

  void if_else(const Operation& op, int depth) {
    results(op);
    out_ << "if " << use(op.operand(0));
    if (op.num_results()) {
      out_ << " -> ";
      result_types(op);
    }
    out_ << " {\n";
    block(op.region(0), depth + 1);
    indent(depth);
    out_ << "} else {\n";
    block(op.region(1), depth + 1);
    indent(depth);
    out_ << "}\n";
  }

  std::ostream& out_;
  std::unordered_map<const Value*, std::string> names_;
  std::set<std::string> taken_;
  int counter_ = 0;
};

}  // namespace

std::string format_real(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[32];
  for (int precision = 1; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  std::string s = buf;
  // Keep floats recognisable as floats in the text.
  if (s.find_first_of(".eE") == std::string::npos) s += ".0";
  return s;
}

void print(std::ostream& out, const Kernel& kernel) { Printer(out).kernel(kernel); }

std::string print(const Kernel& kernel) {
  std::ostringstream out;
  print(out, kernel);
  return out.str();
}

}  // namespace xent::ir
