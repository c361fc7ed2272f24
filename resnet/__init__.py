"""ResNet Lab core: models, anatomy tables and figures. Never imports streamlit."""
