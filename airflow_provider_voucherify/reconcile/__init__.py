"""Reconciliation: what an import sent, compared with what Voucherify holds.

- :mod:`.sample`: stream the import's input and draw a uniform sample, as the import parsed it;
- :mod:`.compare`: one order as sent against the stored order, field by field;
- :mod:`.check`: read the sample back through injected readers and compare;
- :mod:`.report`: counts from the async actions, the detection power of a sample, the table;
- :mod:`.export` and :mod:`.export_index`: every order compared with an export, through an
  on-disk index (``method="export"``).

Everything here is pure or takes its I/O as arguments; ``ReconcileOrdersOperator`` wires it to
the hook.
"""
