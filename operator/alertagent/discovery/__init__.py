"""Service dependency discovery: addresses parsed out of plain Kubernetes objects (addresses), what each
object says (facts), the incrementally maintained graph (graph) and its text forms (export)."""
