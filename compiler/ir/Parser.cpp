#include "compiler/ir/Parser.h"

#include <cctype>
#include <charconv>
#include <optional>
#include <set>
#include <unordered_map>

#include "compiler/Error.h"
#include "compiler/ir/TypeRules.h"
#include "compiler/ir/Verifier.h"

namespace xent::ir {
namespace {

struct Token {
  enum class Kind { Word, Value, Symbol, Number, String, Punct, End };
  Kind kind = Kind::End;
  std::string_view text;  // as written, with its sigil (% or @) or its quotes
  int line = 1, col = 1;
};

[[noreturn]] void fail_at(const Token& t, const std::string& what) {
  throw UserError(cat("line ", t.line, ", col ", t.col, ": ", what));
}

std::string describe(const Token& t) { return t.kind == Token::Kind::End ? "end of input" : cat("'", t.text, "'"); }

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  Token next() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(peek()))) get();
    Token t{Token::Kind::End, {}, line_, col_};
    size_t start = pos_;
    if (pos_ == text_.size()) return t;
    char c = get();
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      while (is_word_char(peek())) get();
      t.kind = Token::Kind::Word;
    } else if (c == '%' || c == '@') {
      while (is_name_char(peek())) get();
      if (pos_ == start + 1) fail_at(t, cat("expected a name after '", c, "'"));
      t.kind = c == '%' ? Token::Kind::Value : Token::Kind::Symbol;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      number();
      t.kind = Token::Kind::Number;
    } else if (c == '"') {
      while (pos_ < text_.size() && peek() != '"' && peek() != '\n') get();
      if (peek() != '"') fail_at(t, "unterminated string");
      get();
      t.kind = Token::Kind::String;
    } else if (c == '-' && peek() == '>') {
      get();
      t.kind = Token::Kind::Punct;
    } else if (std::string_view("(){}[]<>,:=-").find(c) != std::string_view::npos) {
      t.kind = Token::Kind::Punct;
    } else {
      fail_at(t, cat("unexpected character '", c, "'"));
    }
    t.text = text_.substr(start, pos_ - start);
    return t;
  }

 private:
  static bool is_word_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; }
  static bool is_name_char(char c) { return is_word_char(c) || c == '.'; }
  char peek(size_t ahead = 0) const { return pos_ + ahead < text_.size() ? text_[pos_ + ahead] : '\0'; }
  char get() {
    char c = text_[pos_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }
  bool digit_at(size_t ahead) const { return std::isdigit(static_cast<unsigned char>(peek(ahead))); }

  // The rest of 12, 1.5, 1e-05 or 3.0E+10 after its first digit (a sign in front is a separate '-' token).
  void number() {
    while (digit_at(0)) get();
    if (peek() == '.') {
      get();
      while (digit_at(0)) get();
    }
    bool signed_exponent = (peek(1) == '-' || peek(1) == '+') && digit_at(2);
    if ((peek() == 'e' || peek() == 'E') && (digit_at(1) || signed_exponent)) {
      get();
      if (signed_exponent) get();
      while (digit_at(0)) get();
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
  int line_ = 1, col_ = 1;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : lexer_(text) { advance(); }

  std::unique_ptr<Kernel> kernel() {
    expect("kernel", "at the start of the IR");
    Token name = expect(Token::Kind::Symbol, "the kernel name (@name)");
    auto k = std::make_unique<Kernel>(std::string(name.text.substr(1)));
    expect("(", "after the kernel name");
    if (!accept(")")) {
      do param(*k);
      while (accept(","));
      expect(")", "after the parameters");
    }
    if (accept("attributes")) {
      expect("{", "after 'attributes'");
      do {
        Token key = expect(Token::Kind::Word, "an attribute name");
        expect("=", "after the attribute name");
        k->attributes()[std::string(key.text)] = integer("an integer attribute value");
      } while (accept(","));
      expect("}", "after the attributes");
    }
    region(k->body());
    expect(Token::Kind::End, "the end of the input after the kernel");
    return k;
  }

 private:
  // Tokens.
  Token advance() {
    Token t = tok_;
    tok_ = lexer_.next();
    return t;
  }
  bool at(std::string_view text) const {
    return (tok_.kind == Token::Kind::Punct || tok_.kind == Token::Kind::Word) && tok_.text == text;
  }
  bool accept(std::string_view text) {
    if (!at(text)) return false;
    advance();
    return true;
  }
  Token expect(std::string_view text, std::string_view context) {
    if (!at(text)) fail_at(tok_, cat("expected '", text, "' ", context, ", got ", describe(tok_)));
    return advance();
  }
  Token expect(Token::Kind kind, std::string_view what) {
    if (tok_.kind != kind) fail_at(tok_, cat("expected ", what, ", got ", describe(tok_)));
    return advance();
  }

  // Numbers: the text of [-]digits, [-]inf or nan, read once the type it belongs to is known.
  std::pair<std::string, Token> number_text(std::string_view what) {
    Token first = tok_;
    bool negative = accept("-");
    bool special = tok_.kind == Token::Kind::Word && (tok_.text == "inf" || tok_.text == "nan");
    if (tok_.kind != Token::Kind::Number && !special) fail_at(tok_, cat("expected ", what, ", got ", describe(tok_)));
    return {cat(negative ? "-" : "", advance().text), first};
  }
  int64_t integer(std::string_view what) {
    auto [text, where] = number_text(what);
    int64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || end != text.data() + text.size())
      fail_at(where, cat("expected ", what, ", got '", text, "'"));
    return value;
  }
  Literal literal(const std::string& text, const Token& where, const Type& type) {
    Literal lit;
    const char* end = text.data() + text.size();
    auto r =
        type.is_float() ? std::from_chars(text.data(), end, lit.real) : std::from_chars(text.data(), end, lit.integer);
    if (r.ec != std::errc() || r.ptr != end) fail_at(where, cat("'", text, "' is not a literal of type ", type.str()));
    return lit;
  }

  // Types.
  ScalarType scalar_type(std::string_view what) {
    Token t = expect(Token::Kind::Word, what);
    for (int i = 0; i <= static_cast<int>(ScalarType::Ptr); ++i)
      if (to_string(static_cast<ScalarType>(i)) == t.text) return static_cast<ScalarType>(i);
    fail_at(t, cat("expected ", what, ", got ", describe(t)));
  }
  Type type() {
    Token start = tok_;
    constexpr std::string_view kWhat =
        "a type (i1, i32, i64, f16, bf16, f32, ptr<T>, ptr<T, shared>, optionally [shape])";
    ScalarType element = scalar_type(kWhat);
    ScalarType pointee = ScalarType::F32;
    MemorySpace space = MemorySpace::Global;
    if (element == ScalarType::Ptr) {
      expect("<", "after 'ptr'");
      pointee = scalar_type(kWhat);
      if (accept(",")) {
        Token word = expect(Token::Kind::Word, "'shared'");
        if (word.text != "shared") fail_at(word, cat("expected 'shared' after the pointee type, got ", describe(word)));
        space = MemorySpace::Shared;
      }
      expect(">", "after the pointee type");
    }
    Type::Shape shape;
    if (accept("[")) {
      do shape.push_back(integer("a tile extent"));
      while (accept(","));
      expect("]", "after the tile shape");
    }
    try {
      return (element == ScalarType::Ptr ? Type::pointer_to(pointee, space) : Type::scalar(element)).with_shape(shape);
    } catch (const UserError& e) {
      fail_at(start, cat("bad type: ", e.what()));
    }
  }
  std::vector<Type> result_types() {
    std::vector<Type> types;
    if (!accept("->")) return types;
    expect("(", "before the result types");
    do types.push_back(type());
    while (accept(","));
    expect(")", "after the result types");
    return types;
  }

  // Values. `counter_` and `taken_` replay the printer's naming (Printer.cpp: define) so hints come back unchanged.
  // The hint that makes the printer spell this value `text` again: none for a plain number, "iv" for `iv_7` when this
  // is value number 7 and "iv" is taken (the printer's spelling of a repeated hint), else the text itself.
  std::string hint_for(std::string_view text) const {
    if (text.find_first_not_of("0123456789") == std::string_view::npos) return "";
    size_t underscore = text.rfind('_');
    if (underscore != std::string_view::npos && text.substr(underscore + 1) == std::to_string(counter_) &&
        taken_.count(std::string(text.substr(0, underscore))))
      return std::string(text.substr(0, underscore));
    return std::string(text);
  }
  Value* use() {
    Token t = expect(Token::Kind::Value, "a value (%name)");
    auto it = values_.find(t.text.substr(1));
    if (it == values_.end()) fail_at(t, cat("undefined value ", t.text));
    return it->second;
  }
  void define(const Token& t, Value* v) {
    std::string_view text = t.text.substr(1);
    if (!values_.emplace(text, v).second) fail_at(t, cat("value ", t.text, " is defined twice"));
    std::string hint = hint_for(text);
    if (!hint.empty()) taken_.insert(hint);
    taken_.insert(std::string(text));
    ++counter_;
    v->set_name(hint);
  }
  void define_results(Operation* op, const std::vector<Token>& names, const Token& op_name) {
    if (names.size() != op->num_results())
      fail_at(op_name,
              cat("'", op->info().name, "' has ", op->num_results(), " results, got ", names.size(), " names"));
    for (size_t i = 0; i < names.size(); ++i) define(names[i], op->result(i));
  }
  Location location(const Token& t) const { return {"<ir text>", t.line}; }

  void param(Kernel& k) {
    Token name = expect(Token::Kind::Value, "a parameter (%name: type)");
    expect(":", "after the parameter name");
    Type t = type();
    ParamInfo info;
    if (accept("{")) {
      expect("align", "in the parameter's braces");
      expect("=", "after 'align'");
      info.align = static_cast<int>(integer("an alignment in bytes"));
      expect("}", "after the alignment");
    }
    define(name, k.add_param(t, "", info));
  }

  // Blocks and operations.
  void region(Block& b) {
    expect("{", "before a block");
    while (!at("}")) operation(b);
    advance();
  }

  void operation(Block& b) {
    std::vector<Token> names;
    if (tok_.kind == Token::Kind::Value) {
      do names.push_back(expect(Token::Kind::Value, "a result name"));
      while (accept(","));
      expect("=", "after the result names");
    }
    Token op_name = expect(Token::Kind::Word, "an operation name");
    OpKind kind;
    if (!op_kind_from_name(op_name.text, kind)) fail_at(op_name, cat("unknown operation '", op_name.text, "'"));
    if (kind == OpKind::For) return for_loop(b, names, op_name);
    if (kind == OpKind::If) return if_else(b, names, op_name);
    simple(b, kind, names, op_name);
  }

  void for_loop(Block& b, const std::vector<Token>& names, const Token& op_name) {
    Token iv = expect(Token::Kind::Value, "the induction variable");
    expect("=", "after the induction variable");
    std::vector<Value*> operands{use()};
    expect("to", "after the lower bound");
    operands.push_back(use());
    expect("step", "after the upper bound");
    operands.push_back(use());
    std::vector<Token> carried;
    if (accept("iter_args")) {
      expect("(", "after 'iter_args'");
      do {
        carried.push_back(expect(Token::Kind::Value, "a loop-carried value (%name = %init)"));
        expect("=", "after the loop-carried value");
        operands.push_back(use());
      } while (accept(","));
      expect(")", "after the loop-carried values");
    }
    std::vector<Type> types = result_types();
    Operation* op = b.push_back(Operation::create(OpKind::For, operands, types, {}, 1, location(op_name)));
    define_results(op, names, op_name);
    Block& body = op->region(0);
    define(iv, body.add_argument(operands[0]->type()));
    for (size_t i = 0; i < carried.size(); ++i) define(carried[i], body.add_argument(operands[3 + i]->type()));
    region(body);
  }

  void if_else(Block& b, const std::vector<Token>& names, const Token& op_name) {
    Value* condition = use();
    std::vector<Type> types = result_types();
    Operation* op = b.push_back(Operation::create(OpKind::If, {condition}, types, {}, 2, location(op_name)));
    define_results(op, names, op_name);
    region(op->region(0));
    expect("else", "after the then block");
    region(op->region(1));
  }

  // Everything but for and if: `[%r =] name [predicate|reduction] [literal|"symbol"|start to end] operands
  // [axis N] [: type]`, in the order the printer writes them.
  void simple(Block& b, OpKind kind, const std::vector<Token>& names, const Token& op_name) {
    const OpInfo& info = op_info(kind);
    const bool defines_value = has_result(kind);
    if (!defines_value && !names.empty()) fail_at(names[0], cat("'", info.name, "' has no result"));
    if (defines_value && names.size() != 1)
      fail_at(names.empty() ? op_name : names[1],
              cat("'", info.name, "' defines exactly one result (%x = ", info.name, " ...)"));
    Attributes a;
    if (info.attributes & kPredicate) {
      Token t = expect(Token::Kind::Word, "a comparison predicate");
      if (!cmp_predicate_from_name(t.text, a.predicate))
        fail_at(t, cat("unknown predicate '", t.text, "' (eq, ne, lt, le, gt, ge)"));
    }
    if (info.attributes & kReduction) {
      Token t = expect(Token::Kind::Word, "a reduction kind");
      if (!reduce_kind_from_name(t.text, a.reduction))
        fail_at(t, cat("unknown reduction '", t.text, "' (sum, max, min)"));
    }
    std::optional<std::pair<std::string, Token>> literal_text;
    if (info.attributes & kLiteral) literal_text = number_text("a literal");
    if (info.attributes & kSymbol) {
      std::string_view quoted = expect(Token::Kind::String, "a quoted name").text;
      a.symbol = quoted.substr(1, quoted.size() - 2);
    }
    if (info.attributes & kRange) {
      a.start = integer("the start of the range");
      expect("to", "between the range bounds");
      a.end = integer("the end of the range");
    }
    std::vector<Value*> operands;
    // Barriers have neither operands nor a result type, so a value after one begins the next operation.
    bool barrier = kind == OpKind::ClusterBarrier || kind == OpKind::AsyncWait || kind == OpKind::AsyncCommit;
    if (!barrier && tok_.kind == Token::Kind::Value) {
      do operands.push_back(use());
      while (accept(","));
    }
    if (info.attributes & kAxis) {
      expect("axis", "before the axis");
      a.axis = integer("an axis");
    }
    if ((info.attributes & kPending) && accept("pending")) a.pending = integer("a count of groups");
    std::optional<Type> declared;
    if (defines_value) {
      expect(":", "before the result type");
      declared = type();
    }
    if (info.category != OpCategory::Terminator) check_types(kind, operands, a, declared, op_name);
    if (literal_text) a.literal = literal(literal_text->first, literal_text->second, *declared);
    std::vector<Type> types;
    if (declared) types.push_back(*declared);
    Operation* op = b.push_back(Operation::create(kind, operands, types, a, 0, location(op_name)));
    define_results(op, names, op_name);
  }

  // Applies the typing rules here, where the error can still point at a line.
  void check_types(OpKind kind, const std::vector<Value*>& operands, const Attributes& a,
                   const std::optional<Type>& declared, const Token& op_name) {
    std::vector<Type> types;
    for (Value* v : operands) types.push_back(v->type());
    std::optional<Type> inferred;
    try {
      inferred = infer_result_type(kind, types, a, declared);
    } catch (const UserError& e) {
      fail_at(op_name, e.what());
    }
    if (inferred != declared)
      fail_at(op_name,
              cat("'", op_info(kind).name, "': the result type is ", declared->str(), ", expected ", inferred->str()));
  }

  Lexer lexer_;
  Token tok_;
  std::unordered_map<std::string_view, Value*> values_;
  std::set<std::string> taken_;
  int counter_ = 0;
};

}  // namespace

std::unique_ptr<Kernel> parse_kernel(std::string_view text) {
  std::unique_ptr<Kernel> kernel = Parser(text).kernel();
  try {
    verify(*kernel);
  } catch (const InternalError& e) {
    throw UserError(cat("the parsed kernel is not valid IR: ", e.what()));
  }
  return kernel;
}

}  // namespace xent::ir
