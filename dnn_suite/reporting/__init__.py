"""Reading finished runs back: reports with plots, comparisons, headline metrics."""
