"""ResNet Lab: `streamlit run app.py`. The navigation; each page draws its own sidebar."""

import streamlit as st

from pages.ui import language
from resnet.i18n import Translator

t = Translator(language())
navigation = st.navigation([
    st.Page("pages/architecture.py", title=t("nav.architecture"), icon="🧱", url_path="architecture", default=True),
])
navigation.run()
