"""Plotly figure builders (no Streamlit, no Paddle): one module per page's figures."""
