"""Review insights: the whole corpus at a glance.

Every view is computed from what the service already holds, the index's stored passage vectors
and the cached passage-tag table (:class:`~nlp.tagging.table.PassageTagTable`), so nothing is
embedded or tagged again:

- :func:`~nlp.insights.matrix.coverage_matrix`: documents (or organisations, kinds) x labels,
  the share of passages tagged; :func:`~nlp.insights.matrix.cell_passages` lists a cell.
- :func:`~nlp.insights.gaps.find_gaps`: labels that no document, or only one, addresses.
- :func:`~nlp.insights.themes.find_themes`: clusters of passages from different documents that
  say the same thing, with readable labels.
- :func:`~nlp.insights.compare.compare_documents`: two label profiles side by side, where they
  differ most and their closest passage pairs.
- :func:`~nlp.insights.crosswalk.crosswalk`: an Action Line -> its SDG targets (WSIS-SDG
  Matrix) -> GDC commitments sharing their goals -> the passages tagged with each.
- :mod:`nlp.insights.export`: CSV, one XLSX workbook (a sheet per view), JSON Lines of tags.
"""

from __future__ import annotations

from nlp.insights.corpus import CorpusView, InsightsError

__all__ = ["CorpusView", "InsightsError"]
